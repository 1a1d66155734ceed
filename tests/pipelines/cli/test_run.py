"""`bertprep run`: the whole chain from raw dumps and books to TFRecords."""
from __future__ import annotations

import json

import pytest

from formats.pretraining_data import DatasetMetadata
from pipelines.cli.main import main
from tests.support.paths import DATA


def test_run_chains_corpus_vocab_and_pretraining_data(tmp_path, capsys):
    argv = ["run", "--input", f"wikipedia:{DATA}/wikipedia/enwiki-pages-articles1-excerpt-40pages.xml.bz2",
            "--input", f"gutenberg:{DATA}/gutenberg/pg1342-pride-and-prejudice-2025header-excerpt.txt",
            "--output", str(tmp_path), "--vocab_size", "3000", "--lengths", "64:10,128:20", "--dupe_factor", "1"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "[1/3]" in printed and "[3/3]" in printed
    stats = json.loads((tmp_path / "corpus" / "stats.json").read_text())
    vocab = (tmp_path / "vocab" / "vocab.txt").read_text().splitlines()
    assert len(vocab) == 3000 and "the" in vocab
    for length in (64, 128):
        metadata = DatasetMetadata.from_json((tmp_path / f"seq{length}" / "metadata.json").read_text())
        assert metadata.num_instances > 0 and metadata.vocab_size == 3000
        assert metadata.vocab_file == f"{tmp_path}/vocab/vocab.txt"
        assert metadata.counters["documents"] == stats["kept"]  # every kept document reached this stage
        assert metadata.input_stats == {f"{tmp_path}/corpus": stats}


def test_run_refuses_bad_lengths_before_any_work(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["run", "--output", str(tmp_path), "--lengths", "128:x"])
    assert "MAX_SEQ_LENGTH" in capsys.readouterr().err
    assert not (tmp_path / "corpus").exists()
