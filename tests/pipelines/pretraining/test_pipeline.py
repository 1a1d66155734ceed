"""`bertprep pretraining-data` end to end on the DirectRunner, compared with the reference on the same input."""
from __future__ import annotations

import dataclasses
import fnmatch
import functools
import json
import os
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.cli.beam_command import fn_api_runner
from pipelines.cli.main import main
from pipelines.cli.beam_command import resolve_handoff, resolve_spread
from pipelines.corpus.document_writer import documents_table
from pipelines.corpus.documents import Document
from pipelines.output_folder import WORK_PREFIX, Staging, record_fields
from pipelines import handoff
from pipelines.pretraining import pipeline as pretraining_pipeline
from pipelines.pretraining import shard_writer
from pipelines.pretraining.inputs import bert_text_documents
from pipelines.pretraining.instances import InstanceOptions
from pipelines.pretraining.layout import make_layout, rank_key
from pipelines.pretraining.options import PretrainingDataOptions
from pipelines.pretraining.tokens import load_tokenizer
from tests.support.pretraining_data import BOOKS, VOCAB, bucket_totals, read_dataset
from tests.support.reference_bert import import_reference
from tests.support.local_pipeline import local_pipeline

MULTI = ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"]
THREADS = ["--direct_num_workers", "2", "--direct_running_mode", "multi_threading"]  # in this process: patchable


def run_stage(output: Path, *flags: str, inputs: tuple[str, ...] = (f"bert-text:{BOOKS}",)) -> None:
    argv = ["pretraining-data", "--vocab", VOCAB, "--output", str(output)]
    for value in inputs:
        argv += ["--input", value]
    assert main([*argv, *flags]) == 0


@pytest.fixture(scope="module")
def books_output(tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("pretraining")
    run_stage(output, "--lengths", "128:20,512:80", "--dupe_factor", "2")
    return output


def test_instances_have_the_reference_layout(books_output):
    for length, predictions in ((128, 20), (512, 80)):
        metadata, data = read_dataset(books_output / f"seq{length}")
        assert (metadata.max_seq_length, metadata.max_predictions_per_seq, metadata.nsp) == (length, predictions, True)
        assert len(data["input_ids"]) == metadata.num_instances == metadata.counters[f"seq{length}_instances"] > 0
        ids, mask, segments = data["input_ids"], data["input_mask"], data["segment_ids"]
        lengths = mask.sum(axis=1)
        assert (mask == (np.arange(length) < lengths[:, None])).all()  # a prefix of ones
        assert (ids[:, 0] == 101).all() and (ids[np.arange(len(ids)), lengths - 1] == 102).all()
        assert ((ids == 102).sum(axis=1) == 2).all()  # [SEP] after A and after B
        assert ((ids * (1 - mask)) == 0).all() and ((segments * (1 - mask)) == 0).all()
        first_sep = np.argmax(ids == 102, axis=1)
        assert (segments == ((np.arange(length) > first_sep[:, None]) & (mask == 1))).all()
        positions, weights = data["masked_lm_positions"], data["masked_lm_weights"]
        count = weights.sum(axis=1).astype(int)
        assert (count == np.minimum(predictions, np.maximum(1, np.rint(lengths * 0.15)))).all()
        real = np.arange(predictions) < count[:, None]
        assert (positions[real] > 0).all() and (positions[~real] == 0).all() and (data["masked_lm_ids"][~real] == 0).all()
        assert set(np.unique(data["next_sentence_labels"])) == {0, 1}
        assert metadata.vocab_size == 30522 and len(metadata.vocab_sha256) == 64
        assert metadata.counters["documents"] == 57 and metadata.counters.get("random_next_from_same_document", 0) == 0


def test_statistics_match_the_reference_on_the_same_input(books_output, tmp_path):
    """Instances, tokens and masks per instance within 5%, random-next share within 2 points (both dupe 2)."""
    reference = import_reference("create_pretraining_data")
    tokenizer = reference.tokenization.FullTokenizer(VOCAB, do_lower_case=True)
    theirs = []
    for seed in (1, 2, 3):
        theirs += reference.create_training_instances([BOOKS], tokenizer, 128, 2, 0.1, 0.15, 20, random.Random(seed))
    metadata, ours = read_dataset(books_output / "seq128")
    their_count = len(theirs) / 3
    assert metadata.num_instances == pytest.approx(their_count, rel=0.05)
    assert ours["input_mask"].sum(axis=1).mean() == pytest.approx(np.mean([len(i.tokens) for i in theirs]), rel=0.05)
    assert ours["masked_lm_weights"].sum(axis=1).mean() == pytest.approx(
        np.mean([len(i.masked_lm_positions) for i in theirs]), rel=0.05)
    assert ours["next_sentence_labels"].mean() == pytest.approx(np.mean([i.is_random_next for i in theirs]), abs=0.02)


def test_masked_ids_recover_the_text_and_80_percent_show_mask(books_output):
    _, data = read_dataset(books_output / "seq128")
    tokenizer, _ = load_tokenizer(VOCAB, True)
    book_ids = set(tokenizer.encode(Path(BOOKS).read_text()))
    rows = np.arange(len(data["input_ids"]))[:, None]
    real = data["masked_lm_weights"] > 0
    shown = data["input_ids"][rows, data["masked_lm_positions"]][real]
    labels = data["masked_lm_ids"][real]
    assert set(labels.tolist()) <= book_ids  # labels are the text's tokens
    assert (shown == 103).mean() == pytest.approx(0.8, abs=0.03)
    assert (shown == labels).mean() == pytest.approx(0.1, abs=0.03)


def _marked_corpus(path: Path, documents: int) -> list[str]:
    """Real sentences, each starting and ending with a word that names its document."""
    sentences = [line for line in Path(BOOKS).read_text().splitlines() if len(line.split()) > 4]
    tokenizer, _ = load_tokenizer(VOCAB, True)
    used = set(tokenizer.tokenize(Path(BOOKS).read_text()))
    markers = [word for word in tokenizer.vocab
               if word.isalpha() and word.isascii() and len(word) > 7 and word not in used][:documents]
    with path.open("w") as handle:
        for index, marker in enumerate(markers):
            for sentence in sentences[index * 6:index * 6 + 6]:
                handle.write(f"{marker} {sentence} {marker}\n")
            handle.write("\n")
    return markers


def test_the_output_does_not_depend_on_how_the_corpus_is_cut_into_ranges(tmp_path):
    """One range for the whole book text, or ranges of a thousand tokens or five documents: the same bytes."""
    tokenizer, _ = load_tokenizer(VOCAB, True)
    written = {}
    for name, cut in {"one": {}, "tokens": {"tokens_per_range": 1000}, "documents": {"docs_per_range": 5}}.items():
        options = PretrainingDataOptions(output=str(tmp_path / name), lengths=(InstanceOptions(128, 20),),
                                         dupe_factor=2, **cut)
        with local_pipeline() as pipeline:
            pretraining_pipeline.build_pipeline(pipeline, options, tokenizer, [], [BOOKS],
                                                Staging(options.output, str(tmp_path / f"work-{name}")))
        written[name] = {path.name: path.read_bytes() for path in (tmp_path / name / "seq128").iterdir()}
    documents = {doc_id: sum(len(tokenizer.encode(sentence)) for sentence in sentences)
                 for doc_id, sentences in bert_text_documents(BOOKS, Path(BOOKS).name)}
    options = PretrainingDataOptions(output="out", lengths=(InstanceOptions(128, 20),))
    totals = bucket_totals(documents, options.seed)
    assert len(documents) == 57 and make_layout(totals, options).num_ranges == 1
    assert make_layout(totals, dataclasses.replace(options, tokens_per_range=1000)).num_ranges > 20
    assert written["one"] == written["tokens"] == written["documents"] and len(written["one"]) == 2


def test_random_next_segments_come_from_the_whole_corpus(tmp_path):
    """With 4 documents per range, donors of every range come from every range, never the document itself."""
    text = tmp_path / "marked.txt"
    markers = _marked_corpus(text, 40)
    output = tmp_path / "out"
    tokenizer, _ = load_tokenizer(VOCAB, True)
    options = PretrainingDataOptions(
        output=str(output), lengths=(InstanceOptions(64, 10),), dupe_factor=5, docs_per_range=4)

    with local_pipeline() as pipeline:
        pretraining_pipeline.build_pipeline(pipeline, options, tokenizer, [], [str(text)],
                                            Staging(str(output), str(tmp_path / "work")))
    _, data = read_dataset(output / "seq64")
    marker_ids = {tokenizer.vocab[m]: i for i, m in enumerate(markers)}
    layout = make_layout(bucket_totals({f"marked.txt:{i}": 0 for i in range(40)}, options.seed), options)  # 4 docs each
    rank_range = {i: layout.range_of(rank_key(options.seed, f"marked.txt:{i}"))
                  for i in range(40)}
    pairs = []
    for ids, segments, label in zip(data["input_ids"], data["segment_ids"], data["next_sentence_labels"][:, 0]):
        a = [marker_ids[t] for t in ids[segments == 0] if t in marker_ids]
        b = [marker_ids[t] for t in ids[segments == 1] if t in marker_ids]
        if a and b:
            assert (a[0] == b[0]) == (label == 0)  # actual next: same document; random next: another one
            if label:
                pairs.append((rank_range[a[0]], rank_range[b[0]]))
    ranges = set(rank_range.values())
    assert len(ranges) >= 8 and len(pairs) > 100
    # A worker-local shortcut would pair documents of one range only; here ~1/len(ranges) are.
    assert sum(x == y for x, y in pairs) / len(pairs) < 0.25
    for requester in ranges:
        donors = [y for x, y in pairs if x == requester]
        assert len(donors) < 20 or len(set(donors)) >= 5
    assert {y for _, y in pairs} == ranges


def _same_files(folder: Path, other: Path) -> None:
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(p.name for p in other.iterdir())
    assert not [*folder.parent.glob(f"{WORK_PREFIX}*"), *other.parent.glob(f"{WORK_PREFIX}*")]  # work removed
    for name in names:
        assert (folder / name).read_bytes() == (other / name).read_bytes(), name


def test_output_is_byte_identical_with_two_workers_and_either_handoff(tmp_path, books_output):
    # books_output: one process, instances handed to the shard writers as files (auto on the DirectRunner).
    run_stage(tmp_path, "--lengths", "128:20,512:80", "--dupe_factor", "2", "--handoff", "shuffle", *MULTI)
    for folder in ("seq128", "seq512"):
        _same_files(books_output / folder, tmp_path / folder)


def _record_handoffs(monkeypatch) -> tuple[list[str], list[str]]:
    """(the type of every value handed off, the files written) of the runs that follow, a file per value."""
    added: list[str] = []
    closed: list[str] = []
    add, add_bytes, close = handoff.Spool.add, handoff.Spool.add_bytes, handoff.Spool.close
    monkeypatch.setattr(handoff, "SPOOL_BYTES", 1)  # a file per value
    monkeypatch.setattr(handoff, "BLOCK_BYTES", 2**12)  # blocks of a few documents
    monkeypatch.setattr(handoff.Spool, "add", lambda self, value: (added.append(type(value).__name__),
                                                                   add(self, value))[1])
    monkeypatch.setattr(handoff.Spool, "add_bytes", lambda self, data: (added.append("records"),
                                                                        add_bytes(self, data))[1])
    monkeypatch.setattr(handoff.Spool, "close", lambda self: (closed.extend([self.path] if self.pending else []),
                                                              close(self)))
    return added, closed


def _small_ranges(monkeypatch) -> None:
    """Ranges of 2,000 tokens from here on (the book text is one range of the default 500,000), so that
    requests cross between ranges."""
    from pipelines.cli import pretraining_data as command

    monkeypatch.setattr(command, "PretrainingDataOptions",
                        functools.partial(PretrainingDataOptions, tokens_per_range=2000))


def test_files_handoff_spools_in_many_files_and_removes_them(tmp_path, monkeypatch):
    _small_ranges(monkeypatch)
    run_stage(tmp_path / "shuffle", "--lengths", "64:10", "--dupe_factor", "1", "--num_shards", "3",
              "--handoff", "shuffle")
    added, closed = _record_handoffs(monkeypatch)
    monkeypatch.setattr(shard_writer, "RECORDS_PER_CHUNK", 16)  # shards written in many chunks
    run_stage(tmp_path / "files", "--lengths", "64:10", "--dupe_factor", "1", "--num_shards", "3",
              "--handoff", "files", *THREADS)
    work = f"{tmp_path / 'files'}/{WORK_PREFIX}pretraining-data-*/{handoff.FOLDER}/*"
    assert closed and all(fnmatch.fnmatch(path, work) for path in closed)
    kinds = Counter(added)
    # Blocks of raw documents, tokenized documents, requests and instance pieces each went through files.
    assert kinds["list"] > 1 and kinds["TokenizedDocument"] == 57 and kinds["RequestBatch"] > 3
    assert kinds["tuple"] == kinds["records"] > 6 and len(closed) == len(set(closed)) == len(added)
    _same_files(tmp_path / "shuffle" / "seq64", tmp_path / "files" / "seq64")


def test_one_worker_tokenizes_the_documents_where_they_were_read(tmp_path, monkeypatch):
    """No block of raw documents is handed off (nothing to spread over) and the shards are the same."""
    _small_ranges(monkeypatch)
    run_stage(tmp_path / "spread", "--lengths", "64:10", "--dupe_factor", "1", "--num_shards", "2", *THREADS)
    added, _ = _record_handoffs(monkeypatch)
    run_stage(tmp_path / "one", "--lengths", "64:10", "--dupe_factor", "1", "--num_shards", "2")
    kinds = Counter(added)
    assert kinds["list"] == 0 and kinds["TokenizedDocument"] == 57 and kinds["RequestBatch"] > 3
    _same_files(tmp_path / "spread" / "seq64", tmp_path / "one" / "seq64")


def test_documents_are_spread_only_over_several_workers():
    assert resolve_spread([]) is False
    assert resolve_spread(["--runner", "DirectRunner", "--direct_num_workers", "1"]) is False
    assert resolve_spread(MULTI) is True
    assert resolve_spread(["--direct_num_workers", "0"]) is (os.cpu_count() > 1)  # one per core
    assert resolve_spread(["--runner", "DataflowRunner"]) is True


def test_the_direct_runner_is_replaced_by_the_fn_api_runner_in_batch_only():
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    assert isinstance(fn_api_runner([]), FnApiRunner)
    assert isinstance(fn_api_runner(["--runner", "DirectRunner", *MULTI]), FnApiRunner)
    assert fn_api_runner(["--streaming"]) is None
    assert fn_api_runner(["--runner", "DataflowRunner"]) is None


def test_every_local_stage_runs_on_the_fn_api_runner_and_leaves_no_temporary_folder(tmp_path, monkeypatch):
    """run_pipeline (every stage's, distill-labels' included) gives a local run the FnApiRunner itself: Beam's
    DirectRunner would try Prism first, whose job server leaves an empty beam-temp* folder in the temporary
    directory for every run."""
    import tempfile

    import apache_beam as beam

    from pipelines.cli.beam_command import run_pipeline

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert run_pipeline([], lambda pipeline: pipeline | beam.Create([1, 2]) | beam.Map(lambda x: x + 1))
    assert not list(tmp_path.iterdir())


def test_handoff_auto_follows_the_runner():
    assert resolve_handoff("auto", []) == "files"
    assert resolve_handoff("auto", ["--runner", "DirectRunner"]) == "files"
    assert resolve_handoff("auto", ["--runner", "DataflowRunner"]) == "shuffle"
    assert resolve_handoff("shuffle", []) == "shuffle"


def test_shards_are_gzip_and_instances_spread_over_them(tmp_path):
    run_stage(tmp_path, "--lengths", "64:10", "--num_shards", "4", "--compression", "gzip", "--seed", "7")
    metadata, data = read_dataset(tmp_path / "seq64")
    assert len(data["input_ids"]) == metadata.num_instances > 0
    assert metadata.files == [f"part-0000{i}-of-00004.tfrecord.gz" for i in range(4)]
    assert (tmp_path / "seq64" / metadata.files[0]).read_bytes()[:2] == b"\x1f\x8b"
    import tensorflow as tf

    sizes = [sum(1 for _ in tf.data.TFRecordDataset(str(tmp_path / "seq64" / f), "GZIP")) for f in metadata.files]
    assert sum(sizes) == metadata.num_instances and min(sizes) > 0.15 * metadata.num_instances


def test_without_nsp_sequences_are_packed_to_the_full_length(tmp_path):
    run_stage(tmp_path, "--lengths", "128:20", "--no_nsp", "--dupe_factor", "1")
    metadata, data = read_dataset(tmp_path / "seq128")
    assert metadata.nsp is False
    assert (data["segment_ids"] == 0).all() and (data["next_sentence_labels"] == 0).all()
    lengths = data["input_mask"].sum(axis=1)
    assert np.median(lengths) > 100  # whole sentences (about 30 tokens each here) up to 126 tokens
    tokenizer, _ = load_tokenizer(VOCAB, True)
    content = (data["input_ids"] != 101) & (data["input_ids"] != 102) & (data["input_mask"] == 1)
    # dupe 1: every token of the text appears once (masked ones through their labels).
    total = content.sum()
    assert total == sum(len(tokenizer.encode(line)) for line in Path(BOOKS).read_text().splitlines())


def test_whole_word_masking_run(tmp_path):
    run_stage(tmp_path, "--lengths", "128:20", "--whole_word_mask", "--dupe_factor", "1")
    metadata, data = read_dataset(tmp_path / "seq128")
    tokenizer, _ = load_tokenizer(VOCAB, True)
    assert metadata.whole_word_mask
    pieces = np.array(tokenizer.convert_ids_to_tokens(range(len(tokenizer.vocab))))
    for ids, positions, weights, labels in zip(data["input_ids"], data["masked_lm_positions"],
                                               data["masked_lm_weights"], data["masked_lm_ids"]):
        chosen = set(positions[weights > 0].tolist())
        for position in chosen:  # a masked continuation piece has its word start masked too
            if pieces[labels[list(positions).index(position)]].startswith("##") and ids[position - 1] != 102:
                assert position - 1 in chosen


def test_parquet_documents_and_their_stats_are_read(tmp_path):
    documents = [Document(id=f"doc{i}", input="test", source="test", title="", url="", language="en",
                          sentences=tuple(Path(BOOKS).read_text().split("\n\n")[i].splitlines()))
                 for i in range(10)]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shard = corpus / "documents-00000-of-00001.parquet"
    pq.write_table(documents_table(documents), shard)
    stats = {"kept": 10, **record_fields({}, {shard.name: shard.stat().st_size})}
    (corpus / "stats.json").write_text(json.dumps(stats))
    run_stage(tmp_path / "out", "--lengths", "128:20", inputs=(str(corpus),))
    metadata, _ = read_dataset(tmp_path / "out" / "seq128")
    assert metadata.counters["documents"] == 10 and metadata.input_stats == {str(corpus): stats}


def _refusal(capsys, output: Path, *flags: str, inputs: tuple[str, ...] = (f"bert-text:{BOOKS}",)) -> str:
    with pytest.raises(SystemExit) as stopped:
        run_stage(output, *flags, inputs=inputs)
    assert stopped.value.code == 2
    return capsys.readouterr().err


def test_bad_inputs_are_refused_or_counted(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    assert "no instances" in _refusal(capsys, tmp_path / "a", "--lengths", "64:10", inputs=(f"bert-text:{empty}",))
    assert "matched no files" in _refusal(capsys, tmp_path / "b", inputs=(f"bert-text:{tmp_path}/missing*.txt",))
    assert "uncased" in _refusal(capsys, tmp_path / "c", "--no-do_lower_case")
    assert "MAX_SEQ_LENGTH" in _refusal(capsys, tmp_path / "d", "--lengths", "128")
    # A damaged Parquet file, and one that is not the corpus stage's, are named before any work.
    cut, foreign = tmp_path / "cut.parquet", tmp_path / "foreign.parquet"
    pq.write_table(documents_table([Document("d", "i", "s", sentences=["One sentence.", "Two."])]), cut)
    cut.write_bytes(cut.read_bytes()[:-20])
    pq.write_table(pa.table({"text": ["no sentences column"]}), foreign)
    assert f"{cut} is not a readable Parquet file" in _refusal(capsys, tmp_path / "p", inputs=(str(cut),))
    assert "has no id or sentences column" in _refusal(capsys, tmp_path / "q", inputs=(str(foreign),))
    assert not (tmp_path / "p" / "seq128").exists()
    # One document of one long sentence, one of punctuation only that tokenizes to nothing... and the rest.
    odd = tmp_path / "odd.txt"
    odd.write_text(" ".join(["word"] * 300) + "\n\n\u200b\n\nshort one.\nand two.\n")
    run_stage(tmp_path / "e", "--lengths", "64:10", inputs=(f"bert-text:{odd}",))
    metadata, data = read_dataset(tmp_path / "e" / "seq64")
    counters = metadata.counters
    assert counters["documents_read"] == 3 and counters["documents_dropped_no_tokens"] == 1
    assert counters["seq64_truncated_tokens"] > 0 and (data["input_mask"].sum(axis=1) <= 64).all()
    assert "seq64_random_next_without_other_document" not in counters
    # A corpus of one document: its random-next chunks have no donor; they are counted, not made.
    single = tmp_path / "single.txt"
    single.write_text("".join(f"sentence number {i} of the only document.\n" for i in range(60)))
    run_stage(tmp_path / "f", "--lengths", "64:10", inputs=(f"bert-text:{single}",))
    metadata, data = read_dataset(tmp_path / "f" / "seq64")
    assert metadata.counters["seq64_random_next_without_other_document"] > 0
    assert metadata.num_instances > 0 and not data["next_sentence_labels"].any()

