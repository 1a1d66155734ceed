"""`--input` arguments: format prefixes, glob expansion and format detection.

Expansion runs once, when the pipeline is built, through Beam `FileSystems`,
so local paths, globs and `gs://` URLs behave the same.
"""
from __future__ import annotations

import bz2
import dataclasses
import logging
import os
import posixpath
from typing import BinaryIO

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.localfilesystem import LocalFileSystem

from pipelines.corpus.readers import wikipedia_multistream

FORMATS = ("wikipedia", "gutenberg", "text", "jsonl", "parquet")
_SNIFF_BYTES = 64 * 1024
_COMPRESSION_SUFFIXES = (".bz2", ".gz", ".zst", ".xz", ".deflate")


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
    for suffix in _COMPRESSION_SUFFIXES:
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
    """All files the --input arguments name; raises InputError if one matches nothing.

    An argument is a file, a glob, or a folder: a folder stands for the files
    directly in it (not its subfolders; hidden files skipped). Without a
    format prefix, the format is detected once per file-name extension.
    """
    files: list[InputFile] = []
    for argument in arguments:
        spec = parse_input_spec(argument)
        matches = _match_files(argument, spec.pattern)
        indexes = {m.path for m in matches if wikipedia_multistream.is_index_file(m.path)}
        dumps = [m for m in matches if m.path not in indexes]
        if not dumps:
            raise InputError(f"--input {argument!r} matches only multistream index files")
        formats = {} if spec.format else _detect_formats(argument, [m.path for m in dumps])
        for meta in dumps:
            fmt = spec.format or formats[_extension(meta.path)]
            index = ""
            if fmt == "wikipedia":
                candidate = wikipedia_multistream.index_path_for(meta.path)
                if candidate and (candidate in indexes or FileSystems.exists(candidate)):
                    index = candidate
            files.append(InputFile(argument, fmt, meta.path, meta.size_in_bytes, index))
    return files


def _match_files(argument: str, pattern: str) -> list:
    """Metadata of the files `pattern` names, sorted by path; a folder's files if it is one."""
    folder = _as_folder(pattern)
    if folder:
        matches = [m for m in _match(argument, f"{folder}/*") if not posixpath.basename(m.path).startswith(".")]
        if not matches:
            raise InputError(
                f"--input {argument!r} is a folder with no (non-hidden) files directly in it; "
                "subfolders are not read: name them, or use a glob such as DIR/*/*.txt"
            )
    else:
        matches = _match(argument, pattern)
        if not matches:
            raise InputError(f"--input {argument!r} matches no file; check the path or glob")
    return sorted(matches, key=lambda m: m.path)


def _match(argument: str, pattern: str) -> list:
    try:
        matches = FileSystems.match([pattern])[0].metadata_list
    except Exception as error:  # Beam raises BeamIOError for unreadable patterns
        raise InputError(f"--input {argument!r}: cannot list {pattern!r}: {error}") from None
    return [m for m in matches if m.size_in_bytes is not None]


def _as_folder(pattern: str) -> str:
    """The folder `pattern` names ("" if it is a file or a glob). A folder in a
    bucket is a name prefix: it is one when no object has the exact name but
    some have it followed by "/"."""
    if any(char in pattern for char in "*?["):
        return ""
    folder = pattern.rstrip("/") or pattern
    if pattern.endswith("/"):
        return folder
    filesystem = FileSystems.get_filesystem(folder)
    if isinstance(filesystem, LocalFileSystem):
        return folder if os.path.isdir(folder) else ""
    try:
        if FileSystems.match([folder])[0].metadata_list:
            return ""
        return folder if FileSystems.match([f"{folder}/*"], limits=[1])[0].metadata_list else ""
    except Exception:  # unlistable: _match reports it
        return ""


def _extension(path: str) -> str:
    name = posixpath.basename(path).lower()
    for suffix in _COMPRESSION_SUFFIXES:
        name = name.removesuffix(suffix)
    return name.rsplit(".", 1)[1] if "." in name else ""


def _detect_formats(argument: str, paths: list[str]) -> dict[str, str]:
    """Format per extension, from the first file with it (one sniff each, not one per file)."""
    formats: dict[str, str] = {}
    for path in paths:
        extension = _extension(path)
        if extension in formats:
            continue
        try:
            formats[extension] = detect_format(path)
        except (OSError, ValueError) as error:
            raise InputError(f"--input {argument!r}: cannot read {path}: {error}") from None
        logging.info("--input %s: detected format %r for *.%s from %s", argument, formats[extension], extension or "(no extension)", path)
    return formats
