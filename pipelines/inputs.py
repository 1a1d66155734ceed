"""`--input` arguments: format prefixes, glob expansion and format detection.

Expansion runs once, when the pipeline is built, through Beam `FileSystems`,
so local paths, globs and `gs://` URLs behave the same.
"""
from __future__ import annotations

import bz2
import dataclasses
import logging
import posixpath
from typing import BinaryIO

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipelines import wikipedia_multistream

FORMATS = ("wikipedia", "gutenberg", "text", "jsonl", "parquet")
_SNIFF_BYTES = 64 * 1024


class InputError(ValueError):
    """An --input argument that cannot be used; the message says what to change."""


@dataclasses.dataclass(frozen=True)
class InputSpec:
    spec: str  # the argument as given: the key of its stats
    format: str  # "" = detect
    pattern: str


@dataclasses.dataclass(frozen=True)
class InputFile:
    """One unit of reading work: a file, with its multistream index if it has one."""

    input: str
    format: str
    path: str
    size: int
    index_path: str = ""


def parse_input_spec(argument: str) -> InputSpec:
    prefix, sep, rest = argument.partition(":")
    if sep and prefix in FORMATS:
        return InputSpec(argument, prefix, rest)
    if sep and prefix.isalpha() and prefix not in ("gs", "s3", "http", "https", "file") and len(prefix) > 1:
        raise InputError(f"unknown input format {prefix!r} in {argument!r}; use one of {', '.join(FORMATS)}")
    return InputSpec(argument, "", argument)


def open_compressed(path: str) -> BinaryIO:
    """Opens a file's raw bytes (for seeking to multistream offsets)."""
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def open_decompressed(path: str) -> BinaryIO:
    """Opens a file for reading, decompressed by its extension.

    bz2 goes through Python's BZ2File, which reads every stream of a
    multistream file (Wikimedia's `multistream` dumps are concatenated streams).
    """
    if path.endswith(".bz2"):
        return bz2.BZ2File(open_compressed(path))
    return FileSystems.open(path)


def detect_format(path: str) -> str:
    """Format from the file name, or from its first bytes when the name is not enough."""
    name = posixpath.basename(path).lower()
    for suffix in (".bz2", ".gz", ".zst", ".xz", ".deflate"):
        name = name.removesuffix(suffix)
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    if ".xml" in name:
        return "wikipedia"
    with open_decompressed(path) as handle:
        head = handle.read(_SNIFF_BYTES)
    if head.startswith(b"PAR1"):
        return "parquet"
    text = _sniff_text(head)
    if text.lstrip().startswith(("<mediawiki", "<?xml")):
        return "wikipedia"
    if text.lstrip().startswith("{"):
        return "jsonl"
    if "project gutenberg" in text.lower():
        return "gutenberg"
    return "text"


def _sniff_text(head: bytes) -> str:
    # errors="ignore": the head may end inside a character.
    encoding = "utf-16" if head[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    return head.decode(encoding, errors="ignore")


def expand_inputs(arguments: list[str]) -> list[InputFile]:
    """All files the --input arguments name; raises InputError if one matches nothing."""
    files: list[InputFile] = []
    for argument in arguments:
        spec = parse_input_spec(argument)
        try:
            matches = FileSystems.match([spec.pattern])[0].metadata_list
        except Exception as error:  # Beam raises BeamIOError for unreadable patterns
            raise InputError(f"--input {argument!r}: cannot list {spec.pattern!r}: {error}") from None
        matches = sorted((m for m in matches if m.size_in_bytes is not None), key=lambda m: m.path)
        if not matches:
            raise InputError(f"--input {argument!r} matches no file; check the path or glob")
        indexes = {m.path for m in matches if wikipedia_multistream.is_index_file(m.path)}
        dumps = [m for m in matches if m.path not in indexes]
        if not dumps:
            raise InputError(f"--input {argument!r} matches only multistream index files")
        fmt = spec.format or detect_format(dumps[0].path)
        if not spec.format:
            logging.info("--input %s: detected format %r from %s", argument, fmt, dumps[0].path)
        for meta in dumps:
            index = ""
            if fmt == "wikipedia":
                candidate = wikipedia_multistream.index_path_for(meta.path)
                if candidate and (candidate in indexes or FileSystems.exists(candidate)):
                    index = candidate
            files.append(InputFile(argument, fmt, meta.path, meta.size_in_bytes, index))
    return files
