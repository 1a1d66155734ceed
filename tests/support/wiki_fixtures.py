"""Builds test dumps from the real samples in tests/data/wikipedia."""
from __future__ import annotations

import bz2
import pathlib
import re

from pipelines.corpus.readers.bz2_blocks import BLOCK, find_magics
from tests.support.paths import DATA

WIKI = DATA / "wikipedia"
_PAGE = re.compile(rb"<page>.*?</page>", re.S)


def sample_xml(name: str) -> bytes:
    return bz2.decompress((WIKI / name).read_bytes())


def split_dump(xml: bytes) -> tuple[bytes, list[bytes], bytes]:
    """(header, pages, footer) of a well-formed dump."""
    pages = [m for m in _PAGE.finditer(xml)]
    return xml[: pages[0].start()], [m.group(0) for m in pages], xml[pages[-1].end() :]


def damage_block(data: bytes, index: int) -> tuple[bytes, int]:
    """`data` (bzip2) with 64 bytes zeroed in the middle of its `index`-th block, and where."""
    starts = [bit // 8 for bit, kind in find_magics(data) if kind == BLOCK] + [len(data)]
    at = (starts[index] + starts[index + 1]) // 2
    return data[:at] + bytes(64) + data[at + 64 :], at


def write_multistream(
    xml: bytes, folder: pathlib.Path, name: str, pages_per_stream: int = 100, level: int = 9
) -> tuple[pathlib.Path, pathlib.Path]:
    """Writes a Wikimedia-style multistream dump and its index, as the dump scripts do:
    the header in its own stream, then `pages_per_stream` pages per bz2 stream
    (compressed at `level`: 1 gives 100 kB blocks, so a stream holds several)."""
    header, pages, footer = split_dump(xml)
    dump = folder / f"{name}-pages-articles-multistream.xml.bz2"
    index = folder / f"{name}-pages-articles-multistream-index.txt.bz2"
    offset = 0
    lines = []
    with dump.open("wb") as out:
        block = bz2.compress(header)
        out.write(block)
        offset += len(block)
        for start in range(0, len(pages), pages_per_stream):
            group = pages[start : start + pages_per_stream]
            for page in group:
                page_id = re.search(rb"<id>(\d+)</id>", page).group(1).decode()
                title = re.search(rb"<title>(.*?)</title>", page, re.S).group(1).decode()
                lines.append(f"{offset}:{page_id}:{title}\n")
            block = bz2.compress(b"\n".join(group) + b"\n", level)
            out.write(block)
            offset += len(block)
        out.write(bz2.compress(footer))
    index.write_bytes(bz2.compress("".join(lines).encode("utf-8")))
    return dump, index
