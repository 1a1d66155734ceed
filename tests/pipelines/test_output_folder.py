"""Outputs that cannot mislead: completion records, reruns, --overwrite, resume, cleanup, full disks.

Every test runs the real commands on the DirectRunner with real files; the
full-disk test writes to a tmpfs of a few dozen KB (or, where mounting is not
allowed, through a writer that fails as a full disk does).
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from formats.pretraining_data import DatasetMetadata
from pipelines import output_folder
from pipelines.cli import vocab as vocab_command
from pipelines.cli.main import main
from pipelines.corpus.document_writer import documents_table
from pipelines.corpus.documents import Document
from pipelines.output_folder import CLAIM_FILE, WORK_PREFIX
from tests.support.paths import DATA

VOCAB = str(DATA / "vocab" / "bert-base-uncased-vocab.txt")
BOOKS = str(DATA / "bert_text" / "books-en.txt")
WIKI = f"wikipedia:{DATA}/wikipedia/enwiki-pages-articles-sample-3pages.xml.bz2"
BOOK = f"gutenberg:{DATA}/gutenberg/pg1342-pride-and-prejudice-2025header-excerpt.txt"


def pretraining(output: Path, *flags: str, inputs: tuple[str, ...] = (f"bert-text:{BOOKS}",)) -> int:
    argv = ["pretraining-data", "--vocab", VOCAB, "--output", str(output), "--lengths", "64:10", "--dupe_factor", "1"]
    return main([*argv, *(f"--input={value}" for value in inputs), *flags])


def corpus(output: Path, *flags: str) -> int:
    return main(["corpus", "--input", WIKI, "--input", BOOK, "--output", str(output), *flags])


def refusal(capsys, run, *args, **kwargs) -> str:
    """The one-line error of a command that exits 2."""
    with pytest.raises(SystemExit) as stopped:
        run(*args, **kwargs)
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert "Traceback" not in error
    return error


def files(folder: Path) -> dict[str, int]:
    """Every file under the folder (relative path -> mtime in ns)."""
    return {str(path.relative_to(folder)): path.stat().st_mtime_ns for path in sorted(folder.rglob("*"))
            if path.is_file()}


def no_work_folders(folder: Path) -> bool:
    return not list(folder.glob(f"{WORK_PREFIX}*"))


@pytest.fixture(scope="module")
def books_data(tmp_path_factory) -> Path:
    """A pretraining-data output folder with a user's files beside the stage's."""
    output = tmp_path_factory.mktemp("data")
    assert pretraining(output) == 0
    return output


def test_the_completion_record_lists_every_file_with_its_size_and_the_run(books_data):
    metadata = DatasetMetadata.from_json((books_data / "seq64" / "metadata.json").read_text())
    assert metadata.file_bytes == {name: (books_data / "seq64" / name).stat().st_size for name in metadata.files}
    assert metadata.run["stage"] == "pretraining-data" and metadata.run["parameters"]["dupe_factor"] == 1
    assert metadata.run["inputs"] == {BOOKS: Path(BOOKS).stat().st_size}
    assert sorted(p.name for p in (books_data / "seq64").iterdir()) == ["metadata.json", *metadata.files]
    assert no_work_folders(books_data)


def test_the_same_command_again_says_it_is_complete_and_rewrites_nothing(books_data, capsys):
    before = files(books_data)
    assert pretraining(books_data) == 0
    assert "seq64: already complete" in capsys.readouterr().out
    assert files(books_data) == before and no_work_folders(books_data)


def test_other_parameters_are_refused_and_overwrite_replaces_only_the_stage_files(tmp_path, capsys):
    assert pretraining(tmp_path, "--num_shards", "3") == 0
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "seq64" / "my-eval-notes.txt").write_text("mine too")
    before = files(tmp_path)
    error = refusal(capsys, pretraining, tmp_path, "--num_shards", "2")
    assert "seq64 holds the output of another run (made with num_shards 3 there, 2 now)" in error
    assert "--overwrite" in error and len(error.strip().splitlines()) == 1
    assert files(tmp_path) == before  # a refusal touches nothing

    assert pretraining(tmp_path, "--num_shards", "2", "--overwrite") == 0
    assert sorted(p.name for p in (tmp_path / "seq64").iterdir()) == [
        "metadata.json", "my-eval-notes.txt", "part-00000-of-00002.tfrecord", "part-00001-of-00002.tfrecord"]
    assert (tmp_path / "notes.txt").read_text() == "mine" and no_work_folders(tmp_path)


def test_corpus_rerun_refusal_and_overwrite(tmp_path, capsys):
    out = tmp_path / "corpus"
    assert corpus(out, "--num_shards", "3", "--text_output") == 0
    stats = json.loads((out / "stats.json").read_text())
    assert set(stats["file_bytes"]) == {*(f"documents-0000{i}-of-00003.parquet" for i in range(3)),
                                        *(f"text/part-0000{i}-of-00003.txt" for i in range(3)),
                                        "errors-00000-of-00001.jsonl"}
    assert all((out / name).stat().st_size == size for name, size in stats["file_bytes"].items())
    inputs = [DATA / "wikipedia" / "enwiki-pages-articles-sample-3pages.xml.bz2",
              DATA / "gutenberg" / "pg1342-pride-and-prejudice-2025header-excerpt.txt"]
    assert stats["run"]["inputs"] == {str(path): path.stat().st_size for path in inputs}
    (out / "README.txt").write_text("what this corpus is for")
    before = files(out)
    capsys.readouterr()
    assert corpus(out, "--num_shards", "3", "--text_output") == 0
    assert "already complete (stats.json records this run" in capsys.readouterr().out
    assert files(out) == before

    assert "num_shards 3 there, 2 now" in refusal(capsys, corpus, out, "--num_shards", "2")
    assert corpus(out, "--num_shards", "2", "--overwrite") == 0  # and without --text_output
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == [
        "README.txt", "documents-00000-of-00002.parquet", "documents-00001-of-00002.parquet",
        "errors-00000-of-00001.jsonl", "stats.json"]


def test_readers_refuse_a_corpus_folder_without_its_record_or_a_listed_shard(tmp_path, capsys):
    out = tmp_path / "corpus"
    assert corpus(out, "--num_shards", "2") == 0
    shard = out / "documents-00001-of-00002.parquet"
    data = shard.read_bytes()
    shard.write_bytes(data[:-10])
    error = refusal(capsys, pretraining, tmp_path / "data", inputs=(str(out),))
    assert f"documents-00001-of-00002.parquet has {len(data) - 10} bytes, not the {len(data)}" in error
    shard.unlink()
    assert "documents-00001-of-00002.parquet is missing" in refusal(capsys, pretraining, tmp_path / "data",
                                                                  inputs=(str(out),))
    shard.write_bytes(data)
    (out / "stats.json").unlink()  # as a run cut short leaves it
    error = refusal(capsys, pretraining, tmp_path / "data", inputs=(str(out),))
    assert f"{out} has no stats.json, so it is not a complete `bertprep corpus` output" in error
    # Files named explicitly are read as they are.
    assert pretraining(tmp_path / "data", inputs=(f"{out}/documents-*.parquet",)) == 0
    metadata = DatasetMetadata.from_json((tmp_path / "data" / "seq64" / "metadata.json").read_text())
    assert sorted(metadata.run["inputs"]) == sorted(str(path) for path in out.glob("documents-*.parquet"))


def test_inspect_and_pretrain_refuse_a_data_folder_without_its_record_or_a_listed_shard(tmp_path, capsys):
    from bert_model.input_pipeline import PretrainingDataError, pretraining_dataset

    assert pretraining(tmp_path, "--num_shards", "2") == 0
    folder = tmp_path / "seq64"
    shard = folder / "part-00001-of-00002.tfrecord"
    size = shard.stat().st_size

    def inspect() -> str:
        return refusal(capsys, main, ["inspect", str(folder), "--no_plot"])

    def train() -> None:
        pretraining_dataset(str(folder), 8, 64, 10, 30522, is_training=True)

    with open(shard, "ab") as handle:  # another run's bytes appended
        handle.write(b"\0" * 16)
    assert f"part-00001-of-00002.tfrecord has {size + 16} bytes, not the {size}" in inspect()
    with pytest.raises(PretrainingDataError, match=f"part-00001-of-00002.tfrecord has {size + 16} bytes"):
        train()
    shard.unlink()
    assert "part-00001-of-00002.tfrecord is missing" in inspect()
    with pytest.raises(PretrainingDataError, match="part-00001-of-00002.tfrecord is missing"):
        train()
    (folder / "metadata.json").unlink()
    assert "no metadata.json in" in inspect()
    with pytest.raises(PretrainingDataError, match="no metadata.json in"):
        train()


def test_a_users_handoff_folder_and_symlinks_survive_a_run(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("not bertprep's")
    out = tmp_path / "out"
    (out / "_handoff").mkdir(parents=True)  # where earlier versions spooled, now a user's folder
    (out / "_handoff" / "mine.txt").write_text("mine")
    (out / "_handoff" / "link").symlink_to(outside)
    (out / "link").symlink_to(outside)
    assert pretraining(out, "--handoff", "files") == 0
    assert (out / "_handoff" / "mine.txt").read_text() == "mine"
    assert (out / "link" / "precious.txt").read_text() == "not bertprep's"
    assert sorted(p.name for p in out.iterdir()) == ["_handoff", "link", "seq64"]


def test_removal_never_follows_a_symlink_out_of_the_folder(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "part-00000-of-00001.txt").write_text("not bertprep's")
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "text").symlink_to(outside)  # a stage pattern (text/part-*.txt) reached through a symlink
    (folder / "documents-00000-of-00001.parquet").symlink_to(outside / "part-00000-of-00001.txt")
    output_folder.remove_files(str(folder), ["text/part-00000-of-00001.txt", "documents-00000-of-00001.parquet"])
    assert (outside / "part-00000-of-00001.txt").read_text() == "not bertprep's"
    assert not (folder / "documents-00000-of-00001.parquet").is_symlink()  # the link itself is the stage's name

    work = folder / f"{WORK_PREFIX}corpus-1"
    work.mkdir()
    (work / "link").symlink_to(outside)
    output_folder.remove_tree(str(work))
    assert not work.exists() and (outside / "part-00000-of-00001.txt").exists()
    (folder / "elsewhere").symlink_to(outside)
    output_folder.remove_tree(str(folder / "elsewhere"))  # not a folder the run made: left alone
    assert (folder / "elsewhere" / "part-00000-of-00001.txt").exists()


def test_a_failing_run_leaves_no_record_no_shard_and_no_work_folder(tmp_path):
    # Its footer is whole (the command checks footers before it starts), its data pages are not: the pipeline
    # fails while it runs.
    broken = tmp_path / "documents-00000-of-00001.parquet"
    documents = [Document(f"d{i}", "i", "s", sentences=tuple(f"Sentence {j} of {i}." for j in range(30)))
                 for i in range(50)]
    pq.write_table(documents_table(documents), broken)
    data = bytearray(broken.read_bytes())
    data[200:400] = b"\xff" * 200
    broken.write_bytes(bytes(data))
    out = tmp_path / "out"
    # As a user runs it: one line, Beam's tracebacks left out, exit status 1.
    command = [sys.executable, "-m", "pipelines.cli", "pretraining-data", "--vocab", VOCAB, "--output", str(out),
               "--input", f"bert-text:{BOOKS}", "--input", str(broken), "--handoff", "files"]
    failed = subprocess.run(command, capture_output=True, text=True)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert failed.stderr.strip().splitlines()[-1].startswith(
        "bertprep pretraining-data: error: the pipeline stopped: Corrupt snappy compressed data.")
    assert not list(out.rglob("metadata.json")) and not list(out.rglob("part-*")) and no_work_folders(out)
    assert pretraining(out) == 0  # nothing left in the way


def test_an_interrupted_run_of_the_same_command_is_redone_and_an_unknown_one_refused(books_data, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(books_data, out)
    run = DatasetMetadata.from_json((out / "seq64" / "metadata.json").read_text()).run
    # What a run killed while writing leaves: a shard, no metadata.json, its work folder with its claim.
    (out / "seq64" / "metadata.json").unlink()
    (out / "seq64" / "part-00000-of-00001.tfrecord").write_bytes(b"cut short")
    work = out / f"{WORK_PREFIX}pretraining-data-0123"
    (work / "seq64").mkdir(parents=True)
    (work / CLAIM_FILE).write_text(json.dumps({"stage": "pretraining-data", "outputs": {f"{out}/seq64": run}}))
    capsys.readouterr()
    assert pretraining(out) == 0
    assert "removing 1 files of an interrupted run of this same command" in capsys.readouterr().out
    assert files(out / "seq64").keys() == files(books_data / "seq64").keys() and no_work_folders(out)
    for name in files(out / "seq64"):
        assert (out / "seq64" / name).read_bytes() == (books_data / "seq64" / name).read_bytes()

    (out / "seq64" / "metadata.json").unlink()  # no claim to say whose the shard is
    error = refusal(capsys, pretraining, out)
    assert "it holds part-00000-of-00001.tfrecord but no metadata.json" in error and "--overwrite" in error


def test_run_resumes_after_a_crash_skipping_the_completed_stages(tmp_path, capsys, monkeypatch):
    argv = ["run", "--input", WIKI, "--input", BOOK, "--output", str(tmp_path), "--vocab_size", "1000",
            "--lengths", "64:10", "--dupe_factor", "1"]

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # as a user's Ctrl-C, or a crash, right after the corpus stage

    with monkeypatch.context() as patch:
        patch.setattr(vocab_command, "run", killed)
        with pytest.raises(KeyboardInterrupt):
            main(argv)
    corpus_files = files(tmp_path / "corpus")
    assert "stats.json" in corpus_files and not (tmp_path / "vocab").exists()
    capsys.readouterr()

    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "corpus: already complete" in printed and "vocab: already complete" not in printed
    assert files(tmp_path / "corpus") == corpus_files  # not redone
    assert (tmp_path / "vocab" / "vocab_stats.json").exists() and (tmp_path / "seq64" / "metadata.json").exists()

    everything = files(tmp_path)
    assert main(argv) == 0
    assert capsys.readouterr().out.count("already complete") == 3
    assert files(tmp_path) == everything


class _FillingWriter:
    """A file handle of a disk with `room` bytes left: the write past it fails as a full disk's does."""

    def __init__(self, handle, room: list[int]) -> None:
        self.handle, self.room = handle, room

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.handle.close()

    def write(self, data) -> int:
        self.room[0] -= len(data)
        if self.room[0] < 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.handle.write(data)


@pytest.fixture(params=["tmpfs", "writer"])
def full_disk(request, tmp_path, monkeypatch):
    """A folder with 48 KB of room: a tmpfs (where mounting is allowed), or a writer that runs out of space."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if request.param == "tmpfs":
        mount = ["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(disk)]
        if os.geteuid() != 0 or subprocess.run(mount, capture_output=True).returncode != 0:
            pytest.skip("mounting a tmpfs is not allowed here; the writer variant covers this")
        yield disk
        subprocess.run(["umount", str(disk)], check=True)
        return
    create, room = output_folder.FileSystems.create, [48 * 1024]
    monkeypatch.setattr(output_folder.FileSystems, "create", lambda path, *args, **kwargs: (
        _FillingWriter(create(path, *args, **kwargs), room) if path.startswith(str(disk))
        else create(path, *args, **kwargs)))
    yield disk


def test_a_full_disk_is_one_line_naming_the_file_and_leaves_nothing_complete(full_disk, capsys):
    out = full_disk / "corpus"
    error = refusal(capsys, corpus, out, "--text_output")
    assert error.count("\n") == 1 and "No space left on device" in error
    assert f"cannot write {out}/{WORK_PREFIX}corpus-" in error
    assert list(out.rglob("*.*")) == []  # no stats.json, no shard, no work folder


@pytest.mark.parametrize("text, expected", [
    ("OSError: [Errno 28] No space left on device: '/data/out/x.parquet' [while running 'Write']",
     "cannot write /data/out/x.parquet: No space left on device; free some space"),
    ("PermissionError: [Errno 13] Permission denied: '/data/out/seq128/part-0.tfrecord'\n",
     "cannot write /data/out/seq128/part-0.tfrecord: Permission denied; make it writable"),
    ("OSError: [Errno 30] Read-only file system", "cannot write the output: Read-only file system"),
    ("KeyError: 'x'", None),
])
def test_storage_errors_from_worker_processes_read_as_text(text, expected):
    """With worker processes, Beam hands the launcher only the error's text."""
    problem = output_folder.storage_problem(RuntimeError(text))
    assert problem == expected if expected is None else problem.startswith(expected)


def test_a_length_added_later_is_made_alone_with_the_bytes_of_a_joint_run(books_data, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(books_data, out)
    before = files(out / "seq64")
    assert pretraining(out, "--lengths", "64:10,32:5") == 0
    assert files(out / "seq64") == before
    joint = tmp_path / "joint"
    assert pretraining(joint, "--lengths", "64:10,32:5") == 0
    for length in ("seq64", "seq32"):
        assert files(out / length).keys() == files(joint / length).keys()
        for name in files(joint / length):
            assert (out / length / name).read_bytes() == (joint / length / name).read_bytes(), name


def test_a_vocab_run_that_learns_nothing_leaves_no_record(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    out = tmp_path / "vocab"
    error = refusal(capsys, main, ["vocab", "--input", f"text:{empty}", "--output", str(out)])
    assert "no vocabulary learned: the inputs hold no words" in error
    assert list(out.iterdir()) == []
