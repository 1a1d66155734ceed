"""The stage's inputs: the corpus stage's Parquet documents and reference-format text files, found, checked
before the pipeline starts, and read as (document id, sentences)."""
from __future__ import annotations

import os
import posixpath
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from formats.pretraining_data import FILE_BYTES
from pipelines.corpus.document_writer import corpus_documents
from pipelines.errors import UsageError

BERT_TEXT = "bert-text"  # the prefix of a reference-format text input: bert-text:PATTERN
DOCUMENT_COLUMNS = ("id", "sentences")  # what this stage reads of the corpus stage's Parquet documents


def resolve_inputs(values: list[str]) -> tuple[list[str], list[str], dict, dict[str, int]]:
    """(parquet files, text files, the corpus stage's stats.json contents by folder, every file's bytes).

    A corpus folder gives the documents its stats.json lists, checked against it (a folder without one is
    refused: a run that did not finish); files and globs are read as they match.
    """
    parquet, text, stats, sizes = [], [], {}, {}
    for value in values:
        if value.startswith(f"{BERT_TEXT}:"):
            pattern, target = value.split(":", 1)[1], text
        elif value.endswith(".parquet") or any(char in value for char in "*?["):
            pattern, target = value, parquet
        else:
            folder = value.rstrip("/")
            stats[folder], documents = corpus_documents(folder)
            parquet.extend(documents)
            sizes.update((path, stats[folder][FILE_BYTES][path[len(folder) + 1:]]) for path in documents)
            continue
        if FileSystems.get_scheme(pattern) is None:  # Beam matches no relative glob without a folder ("b*.txt")
            pattern = os.path.abspath(pattern)
        matched = {m.path: m.size_in_bytes for result in FileSystems.match([pattern]) for m in result.metadata_list}
        if not matched:
            raise UsageError(f"--input {value!r} matched no files (looked for {pattern})")
        target.extend(sorted(matched))
        sizes.update(matched)
    check_documents_files(parquet)
    return parquet, text, stats, sizes


def check_documents_files(paths: list[str]) -> None:
    """Reads every Parquet footer before the pipeline starts: a damaged or foreign file is named now, not in a
    worker's traceback after the other files were read."""
    for path in paths:
        try:
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
                columns = pq.read_schema(handle).names
        except (pa.ArrowException, OSError) as error:
            raise UsageError(f"--input {path} is not a readable Parquet file ({error})") from None
        missing = [name for name in DOCUMENT_COLUMNS if name not in columns]
        if missing:
            raise UsageError(f"--input {path} has no {' or '.join(missing)} column: it is not the corpus stage's "
                             "documents (give reference-format text as --input_file or bert-text:PATTERN)")


def text_document_prefixes(text_files: list[str]) -> list[tuple[str, str]]:
    """(path, prefix of its documents' ids) per text file. The prefix names the file relative to the inputs'
    common folder, so ids stay the same when the whole input moves (local disk -> gs://)."""
    base = posixpath.commonpath([posixpath.dirname(f) for f in text_files]) if len(text_files) > 1 \
        else posixpath.dirname(text_files[0])
    return [(path, posixpath.relpath(path, base) if base else path) for path in text_files]


def bert_text_documents(path: str, doc_prefix: str) -> Iterator[tuple[str, list[str]]]:
    """The reference input format: one sentence per line, a blank line between documents."""
    ordinal, sentences = 0, []
    with FileSystems.open(path, compression_type=CompressionTypes.AUTO) as handle:
        for raw in handle:
            line = raw.decode("utf-8", errors="replace").strip()
            if line:
                sentences.append(line)
            elif sentences:
                yield f"{doc_prefix}:{ordinal}", sentences
                ordinal, sentences = ordinal + 1, []
    if sentences:
        yield f"{doc_prefix}:{ordinal}", sentences
