"""The documents shard writer: a shard too large to sort in memory is sorted in spilled runs and merged into
the same bytes as one sorted in memory, Parquet and reference text alike, without holding the shard."""
from __future__ import annotations

import random
from pathlib import Path

import pyarrow.parquet as pq

from pipelines.corpus import document_writer
from pipelines.corpus.document_writer import ordered_documents, write_documents_shard
from pipelines.corpus.documents import Document, HandedDocument
from pipelines.handoff import Reader, Spool
from pipelines.output_folder import Staging
from tests.support.paths import DATA


def _documents(count: int) -> list[Document]:
    """Documents of real sentences (a Gutenberg book's lines), in a shuffled order; two share an id."""
    lines = [line.strip() for line in (DATA / "gutenberg" / "pg2701-moby-dick-2008-excerpt.txt").read_text(
        encoding="utf-8").splitlines() if line.strip()]
    docs = [Document(f"gutenberg:{i % (count - 1)}", "gutenberg:books", "book.txt", title=f"part {i}",
                     language="en", sentences=tuple(lines[i % len(lines): i % len(lines) + 1 + i % 4]))
            for i in range(count)]
    random.Random(7).shuffle(docs)
    return docs


def _write(folder: Path, docs, run_documents: int) -> dict[str, bytes]:
    staging = Staging(str(folder), str(folder / ".work"))
    written = write_documents_shard(staging, 0, 1, iter(docs), True, run_documents)
    return {name: (folder / name).read_bytes() for name, _ in written}


def test_spilled_runs_give_the_bytes_of_an_in_memory_sort(tmp_path: Path) -> None:
    docs = _documents(2_345)
    whole = _write(tmp_path / "whole", docs, run_documents=10_000)
    spilled = _write(tmp_path / "spilled", docs, run_documents=300)
    assert sorted(whole) == ["documents-00000-of-00001.parquet", "text/part-00000-of-00001.txt"]
    assert whole == spilled
    table = pq.read_table(tmp_path / "spilled" / "documents-00000-of-00001.parquet")
    ids = table.column("id").to_pylist()
    assert len(ids) == 2_345 and ids == sorted(ids)
    assert pq.ParquetFile(tmp_path / "spilled" / "documents-00000-of-00001.parquet").metadata.num_row_groups == 3
    assert not list((tmp_path / "spilled" / ".work" / "_sort").iterdir())  # the runs are gone once merged


def test_a_large_shard_is_held_a_run_at_a_time(tmp_path: Path) -> None:
    """1,050 documents in runs of 100: ten sorted runs of 100 go to files, the last 50 stay in memory, and the
    files are read back a row group at a time while merging, then removed."""
    docs = _documents(1_050)
    ordered = ordered_documents(iter(docs), str(tmp_path / "run"), run_documents=100)
    first = next(ordered)
    runs = sorted(tmp_path.glob("run-*"), key=lambda path: int(path.name.split("-")[1]))
    assert len(runs) == 10
    for path in runs:
        run = list(document_writer._read_run(str(path)))
        assert len(run) == 100 and run == sorted(run, key=lambda doc: (doc.id, doc.sentences))
    assert [first, *ordered] == sorted(docs, key=lambda doc: (doc.id, doc.sentences))
    assert not list(tmp_path.glob("run-*"))


def test_runs_are_cut_by_characters_too(tmp_path: Path, monkeypatch) -> None:
    docs = _documents(500)
    characters = sum(sum(map(len, doc.sentences)) for doc in docs)
    runs: list[str] = []
    spill = document_writer._spill
    monkeypatch.setattr(document_writer, "_spill", lambda run, path: (runs.append(path), spill(run, path))[1])
    ordered = list(ordered_documents(iter(docs), str(tmp_path / "run"), run_documents=10_000,
                                     run_characters=characters // 4))
    assert ordered == sorted(docs, key=lambda doc: (doc.id, doc.sentences))
    assert len(runs) in (3, 4)  # every quarter of the text (the last may stay in memory)


def test_spilled_chunks_and_row_groups_are_cut_by_characters(tmp_path: Path, monkeypatch) -> None:
    """Long documents make smaller spill chunks (the merge holds one of each run) and smaller row groups,
    and the shard still holds every document in order."""
    import pickle

    docs = _documents(1_200)
    longest = max(sum(map(len, doc.sentences)) for doc in docs)
    monkeypatch.setattr(document_writer, "SPILL_CHUNK_CHARACTERS", 5_000)
    monkeypatch.setattr(document_writer, "ROW_GROUP_CHARACTERS", 20_000)
    path = document_writer._spill(sorted(docs[:400], key=lambda doc: (doc.id, doc.sentences)), str(tmp_path / "r"))
    chunks = []
    with open(path, "rb") as handle:
        while True:
            try:
                chunks.append(pickle.load(handle))
            except EOFError:
                break
    held = [sum(sum(map(len, doc.sentences)) for doc in chunk) for chunk in chunks]
    assert len(chunks) > 3 and max(held) < 5_000 + longest and sum(map(len, chunks)) == 400
    _write(tmp_path / "out", docs, run_documents=300)
    shard = pq.ParquetFile(tmp_path / "out" / "documents-00000-of-00001.parquet")
    groups = [shard.metadata.row_group(i).num_rows for i in range(shard.metadata.num_row_groups)]
    assert len(groups) > 3 and sum(groups) == 1_200 and max(groups) < 1_000
    ids = shard.read().column("id").to_pylist()
    assert ids == sorted(doc.id for doc in docs)


def _handed_off(docs: list[Document], folder: Path) -> list[HandedDocument]:
    """The documents as the files handoff delivers them: pickled into spool files, each travelling as its id,
    its input and where it lies."""
    folder.mkdir()
    spool = Spool(str(folder), limit=20_000)  # several spool files
    handed = [HandedDocument(doc.id, doc.input, spool.add(doc)) for doc in docs]
    spool.close()
    return handed


def test_handed_off_documents_are_read_back_one_by_one_in_order(tmp_path: Path, monkeypatch) -> None:
    """Handed-off documents are never sorted as text: no run is spilled however small the runs, each document is
    read once, when its turn comes, and the shard has the bytes of whole documents sorted in memory (the two
    documents sharing an id included)."""
    docs = _documents(1_234)
    handed = _handed_off(docs, tmp_path / "handoff")
    reads: list[object] = []
    read = Reader.read

    def counted_read(self, spilled, *args):
        reads.append(spilled)
        return read(self, spilled, *args)

    monkeypatch.setattr(Reader, "read", counted_read)
    spills: list[str] = []
    monkeypatch.setattr(document_writer, "_spill", lambda run, path: spills.append(path))
    ordered = ordered_documents(iter(handed), str(tmp_path / "run"), run_documents=10)
    # The two documents of the smallest id, and the next one, which ends their group.
    assert next(ordered).id == "gutenberg:0" and len(reads) == 3
    rest = list(ordered)
    assert len(rest) == len(docs) - 1 and len(reads) == len(set(reads)) == len(docs) and not spills
    assert _write(tmp_path / "handed", handed, run_documents=10) == _write(tmp_path / "whole", docs, 10_000)


def test_an_empty_shard_is_an_empty_table(tmp_path: Path) -> None:
    written = _write(tmp_path, [], run_documents=10)
    assert pq.read_table(tmp_path / "documents-00000-of-00001.parquet").num_rows == 0
    assert written["text/part-00000-of-00001.txt"] == b""
