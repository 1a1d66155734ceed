"""`bertprep vocab` end to end on a real DirectRunner."""
from __future__ import annotations

import json
import pathlib

import pytest

from pipelines.cli import main as cli
from tests.support.wiki_fixtures import DATA
from tests.support.local_pipeline import local_pipeline

GUTENBERG = DATA / "gutenberg"
BOOKS = f"gutenberg:{GUTENBERG}/pg1*.txt"  # English books
BERT_SPECIALS = ["[PAD]", *[f"[unused{i}]" for i in range(99)], "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def learn(tmp_path: pathlib.Path, name: str, *arguments: str) -> tuple[list[str], dict, bytes]:
    out = tmp_path / name
    assert cli.main(["vocab", "--output", str(out), *arguments]) == 0
    raw = (out / "vocab.txt").read_bytes()
    return raw.decode("utf-8").splitlines(), json.loads((out / "vocab_stats.json").read_text()), raw


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("corpus") / "docs"
    assert cli.main(["corpus", "--input", BOOKS, "--output", str(out), "--num_shards", "2"]) == 0
    return out


def test_wordpiece_from_corpus_documents(tmp_path, corpus):
    tokens, stats, _ = learn(tmp_path, "v", "--input", f"parquet:{corpus}/documents-*.parquet", "--vocab_size", "3000")
    assert len(tokens) == 3000 and len(set(tokens)) == 3000
    assert tokens[:104] == BERT_SPECIALS
    assert {"the", "and", "##s"} <= set(tokens)
    assert stats["vocab_size"] == 3000 and stats["documents"] > 0 and stats["distinct_words"] > 1000
    assert stats["heldout"]["unk_rate"] < 0.01 and 1.0 <= stats["heldout"]["pieces_per_word"] < 2.0
    assert len(stats["sha256"]) == 64


def test_same_vocab_with_two_worker_processes(tmp_path):
    arguments = ["--input", BOOKS, "--vocab_size", "2000", "--cased"]
    _, _, one = learn(tmp_path, "one", *arguments)
    _, _, two = learn(tmp_path, "two", *arguments, "--direct_num_workers", "2", "--direct_running_mode", "multi_processing")
    assert one == two


def test_sentencepiece_method(tmp_path):
    tokens, stats, _ = learn(tmp_path, "sp", "--input", BOOKS, "--vocab_size", "2000", "--method", "sentencepiece")
    assert len(tokens) == 2000 and tokens[:104] == BERT_SPECIALS
    assert any(t.startswith("##") for t in tokens)
    assert stats["method"] == "sentencepiece" and stats["heldout"]["unk_rate"] < 0.01


def test_bad_arguments_and_empty_corpus(tmp_path, capsys):
    def fails(*arguments: str) -> str:
        with pytest.raises(SystemExit) as stopped:
            cli.main(["vocab", *arguments])
        assert stopped.value.code == 2
        return capsys.readouterr().err

    assert "leaves no room" in fails("--input", BOOKS, "--output", str(tmp_path / "o"), "--vocab_size", "100")
    blank = tmp_path / "blank.txt"
    blank.write_text("   \n\n  \n")
    assert "no words" in fails("--input", f"text:{blank}", "--output", str(tmp_path / "e"), "--vocab_size", "500")
    assert "give --input" in fails("--vocab_size", "500")


def test_check_against_model_config(tmp_path, capsys):
    vocab = DATA / "vocab" / "bert-base-uncased-vocab.txt"
    config = tmp_path / "bert_config.json"
    config.write_text(json.dumps({"vocab_size": 30522, "hidden_size": 768}))
    assert cli.main(["vocab", "--check", str(vocab), "--bert_config_file", str(config)]) == 0
    assert "matches vocab_size" in capsys.readouterr().out
    config.write_text(json.dumps({"vocab_size": 30000}))
    with pytest.raises(SystemExit):
        cli.main(["vocab", "--check", str(vocab), "--bert_config_file", str(config)])
    assert "has 30522 tokens but" in capsys.readouterr().err
    duplicated = tmp_path / "dup.txt"
    duplicated.write_text(vocab.read_text() + "the\n")
    with pytest.raises(SystemExit):
        cli.main(["vocab", "--check", str(duplicated)])
    assert "the" in capsys.readouterr().err


def test_counts_are_beam_metrics_that_match_vocab_stats(tmp_path):
    from apache_beam.metrics.metric import MetricsFilter

    from pipelines import vocab_pipeline
    from pipelines.corpus.inputs import expand_inputs
    from pipelines.output_folder import Staging

    options = vocab_pipeline.VocabOptions(output=str(tmp_path), vocab_size=2000, min_word_count=1, holdout_percent=40)
    pipeline = local_pipeline()
    vocab_pipeline.build_pipeline(pipeline, expand_inputs([BOOKS]), options,
                                  Staging(str(tmp_path), str(tmp_path / "work")), {})
    result = pipeline.run()
    result.wait_until_finish()
    metrics = {counter.key.metric.name: counter.committed for counter in result.metrics().query(
        MetricsFilter().with_namespace(vocab_pipeline.METRICS_NAMESPACE))["counters"]}
    stats = json.loads((tmp_path / "vocab_stats.json").read_text())
    assert metrics["training_documents"] == stats["documents"] > 0
    assert metrics["training_words"] == stats["words"]
    assert metrics["heldout_words"] == stats["heldout"]["words"] > 0


@pytest.mark.parametrize("handoff", ["shuffle", "files"])
def test_word_counts_survive_flushed_tables(tmp_path, monkeypatch, handoff):
    """Tables handed over every few words and summed per bucket count every word once: the same pairs as one
    Counter over the documents, pruned at min_count and cut to max_words by (count, word)."""
    import collections

    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    from pipelines import vocab_pipeline
    from pipelines.corpus.documents import Document
    from vocab.tokenization import BasicTokenizer

    monkeypatch.setattr(vocab_pipeline, "FLUSH_WORDS", 7)
    monkeypatch.setattr(vocab_pipeline, "COUNT_BUCKETS", 5)
    lines = (GUTENBERG / "pg2701-moby-dick-2008-excerpt.txt").read_text(encoding="utf-8").splitlines()[100:700]
    docs = [Document(id=f"d{i}", input="test", source="test", language="en", text="\n\n".join(lines[i:i + 30]))
            for i in range(0, len(lines), 30)]
    tokenizer, expected = BasicTokenizer(do_lower_case=True), collections.Counter()
    for doc in docs:
        for line in vocab_pipeline.document_lines(doc):
            expected.update(tokenizer.tokenize(line))
    kept = sorted(((word, count) for word, count in expected.items() if count >= 2),
                  key=lambda wc: (wc[1], wc[0]), reverse=True)[:300]
    assert len(kept) == 300 and sum(count >= 2 for count in expected.values()) > 300
    (tmp_path / "handoff").mkdir()
    with local_pipeline() as pipeline:
        counts = (pipeline | beam.Create(docs)
                  | vocab_pipeline.CountWords(True, 2, 300, "training", handoff, str(tmp_path / "handoff")))
        assert_that(counts, equal_to([kept]))


def test_counting_workers_keep_bounded_tokenizer_caches():
    """The counting step's tokenizer, as each worker unpickles it, keeps the pipelines' cache bound, not the
    tokenizer's default (which held ~50 MB more per worker on a 256 MB corpus)."""
    import pickle

    from pipelines import vocab_pipeline
    from vocab.tokenization import DEFAULT_CACHE_SIZE, WORKER_CACHE_SIZE

    counting = pickle.loads(pickle.dumps(vocab_pipeline._CountWords(True, "training", "shuffle", "")))
    counting.setup()
    assert counting._tokenizer.cache_size == WORKER_CACHE_SIZE < DEFAULT_CACHE_SIZE


def test_most_frequent_keeps_what_top_of_keeps():
    """Pairs added and merged in any split, cut back along the way: the `size` largest by (count, word)."""
    import random

    from pipelines.vocab_pipeline import MostFrequent

    rng = random.Random(3)
    pairs = [(f"w{rng.randrange(10**6)}", rng.randrange(1, 50)) for _ in range(3000)]
    combine = MostFrequent(40)
    parts = []
    for start in range(0, len(pairs), 700):
        kept = combine.create_accumulator()
        for pair in pairs[start:start + 700]:
            kept = combine.add_input(kept, pair)
        assert len(kept) < 80
        parts.append(kept)
    result = combine.extract_output(combine.merge_accumulators(parts))
    assert result == sorted(pairs, key=lambda wc: (wc[1], wc[0]), reverse=True)[:40]
    assert combine.extract_output(combine.create_accumulator()) == []
