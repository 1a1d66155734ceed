"""bzip2 reading past damage, on the real dump samples (recompressed into small blocks)."""
from __future__ import annotations

import bz2
import io
import random

import pytest

from pipelines.corpus.readers.bz2_blocks import (
    BLOCK,
    BLOCK_MAGIC,
    CORRUPT,
    END,
    TRUNCATED,
    Bz2Gap,
    find_magics,
    iter_bz2,
)
from tests.support.wiki_fixtures import WIKI, sample_xml

XML = sample_xml("enwiki-pages-articles1-excerpt-40pages.xml.bz2")
SMALL_BLOCKS = bz2.compress(XML, 1)  # 100 kB blocks: 5 of them
BLOCK_OUTPUT = 110_000  # what a 100 kB block can hold: run-length coding shortens runs


def read(data: bytes) -> tuple[list[bytes], list[Bz2Gap]]:
    items = list(iter_bz2(io.BytesIO(data)))
    return [i for i in items if isinstance(i, bytes)], [i for i in items if isinstance(i, Bz2Gap)]


def block_starts(data: bytes) -> list[int]:
    return [bit // 8 for bit, kind in find_magics(data) if kind == BLOCK]


def damaged(data: bytes, at: int, length: int = 64) -> bytes:
    copy = bytearray(data)
    copy[at : at + length] = bytes(length)
    return bytes(copy)


def assert_one_hole(intact: bytes, pieces: list[bytes], max_hole: int) -> None:
    """The pieces are the intact data with one contiguous part (at most max_hole bytes) missing."""
    kept = b"".join(pieces)
    common = 0
    while common < len(kept) and kept[common] == intact[common]:
        common += 1
    tail = len(kept) - common
    assert kept[common:] == intact[len(intact) - tail :]
    assert 0 < len(intact) - len(kept) <= max_hole


@pytest.mark.parametrize("shift", range(8))
def test_magic_found_at_every_bit_offset(shift):
    rng = random.Random(shift)
    prefix_bits = 8 * 10 + shift
    suffix_bits = 8 + (-(prefix_bits + 48)) % 8
    value = ((rng.getrandbits(prefix_bits) << 48 | BLOCK_MAGIC) << suffix_bits) | rng.getrandbits(suffix_bits)
    data = value.to_bytes((prefix_bits + 48 + suffix_bits) // 8, "big")
    assert (prefix_bits, BLOCK) in find_magics(data)


def test_intact_files_read_like_python_bz2():
    multistream = bz2.compress(XML[:150_000], 1) + bz2.compress(XML[150_000:], 9) + bz2.compress(b"")
    for data in [(WIKI / name).read_bytes() for name in ("ltgwiki-latest-pages-articles.xml.bz2", "bgwiki-latest-pages-articles-shortened.xml.bz2")] + [SMALL_BLOCKS, multistream]:
        pieces, gaps = read(data)
        assert gaps == [] and b"".join(pieces) == bz2.decompress(data)


def test_each_damaged_block_costs_only_itself():
    starts = block_starts(SMALL_BLOCKS)
    assert len(starts) == 5
    ends = starts[1:] + [len(SMALL_BLOCKS)]
    for start, end in zip(starts, ends):
        at = (start + end) // 2
        pieces, gaps = read(damaged(SMALL_BLOCKS, at))
        assert_one_hole(XML, pieces, max_hole=BLOCK_OUTPUT)
        [gap] = gaps
        assert gap.reason == CORRUPT and gap.offset <= at < gap.offset + gap.skipped
        assert gap.offset == start and f"from byte {start}" in gap.detail
        if end < len(SMALL_BLOCKS) - 10:  # the last block is followed by the end of stream only
            assert gap.offset + gap.skipped == end


def test_random_bit_flips_never_pass_garbage():
    rng = random.Random(7)
    for _ in range(20):
        data = bytearray(SMALL_BLOCKS)
        at = rng.randrange(10, len(data) - 20)
        data[at] ^= 1 << rng.randrange(8)
        pieces, gaps = read(bytes(data))
        # A flip may hit a stream CRC or padding (no data lost); else one block is lost.
        if gaps:
            assert_one_hole(XML, pieces, max_hole=BLOCK_OUTPUT)
        else:
            assert b"".join(pieces) == XML


def test_truncated_file_keeps_every_complete_block():
    starts = block_starts(SMALL_BLOCKS)
    cut = (starts[3] + starts[4]) // 2
    pieces, gaps = read(SMALL_BLOCKS[:cut])
    kept = b"".join(pieces)
    assert XML.startswith(kept) and len(kept) > 250_000  # the first three blocks
    assert [(g.reason, g.offset, g.skipped) for g in gaps] == [(TRUNCATED, starts[3], cut - starts[3])]


def test_damaged_stream_header_and_trailing_bytes():
    second = 150_000
    data = bz2.compress(XML[:second], 1) + bz2.compress(XML[second:], 1)
    header = data.index(b"BZh1", 4)
    pieces, gaps = read(data[:header] + b"XXXX" + data[header + 4 :] + b"\0junk")
    assert b"".join(pieces) == XML  # no data lost: only the header and the junk are reported
    assert [(g.reason, g.offset, g.skipped) for g in gaps] == [(CORRUPT, header, 4), (CORRUPT, len(data), 5)]


def test_not_bzip2_and_empty():
    assert read(b"") == ([], [])
    pieces, gaps = read(b"plain text, not compressed\n" * 10)
    assert pieces == [] and [(g.offset, g.skipped) for g in gaps] == [(0, 270)]


def test_end_magic_is_found_too():
    kinds = [kind for _, kind in find_magics(SMALL_BLOCKS)]
    assert kinds == [BLOCK] * 5 + [END]
