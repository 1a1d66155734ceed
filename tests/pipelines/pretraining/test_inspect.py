"""`bertprep inspect`: statistics, decoded examples, plot and errors, on shards written here in the real schema."""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import statistics
import uuid
from dataclasses import dataclass, field

import numpy as np
import pytest
import tensorflow as tf

from formats.pretraining_data import METADATA_FILE, DatasetMetadata, shard_name
from pipelines.cli import inspect as inspect_command
from pipelines.errors import UsageError
from pipelines.pretraining import inspect as inspect_data
from tests.support import paths
from vocab.tokenization import load_vocab

REPO = str(paths.REPO)
VOCAB_FILE = os.path.join(REPO, "tests", "data", "vocab", "bert-base-uncased-vocab.txt")
VOCAB = load_vocab(VOCAB_FILE)
VOCAB_SHA256 = hashlib.sha256(pathlib.Path(VOCAB_FILE).read_bytes()).hexdigest()
MAX_SEQ_LENGTH = 20
MAX_PREDICTIONS = 4
NUM_SHARDS = 3
WORDS = ["the", "quick", "brown", "fox", "jump", "##ed", "over", "lazy", "dog", "river"]
RANDOM_WORD = "zebra"  # what a "random" prediction shows; no instance contains it otherwise
KIND_CYCLE = ["mask", "mask", "kept", "random"]


@dataclass
class Instance:
    """[CLS] a [SEP] b [SEP] ([CLS] a [SEP] for empty b), with `masks` = (position, "mask" | "kept" | "random")."""

    a: list[str]
    b: list[str]
    random_next: bool
    masks: list[tuple[int, str]] = field(default_factory=list)

    @property
    def tokens(self) -> list[str]:
        return ["[CLS]", *self.a, "[SEP]", *self.b, "[SEP]"] if self.b else ["[CLS]", *self.a, "[SEP]"]

    def example(self) -> tf.train.Example:
        tokens = self.tokens
        shown = {"mask": "[MASK]", "random": RANDOM_WORD}
        for position, kind in self.masks:
            tokens[position] = shown.get(kind, tokens[position])
        pad = MAX_SEQ_LENGTH - len(tokens)
        unpredicted = MAX_PREDICTIONS - len(self.masks)

        def ints(values: list[int]) -> tf.train.Feature:
            return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

        return tf.train.Example(features=tf.train.Features(feature={
            "input_ids": ints([VOCAB[token] for token in tokens] + [0] * pad),
            "input_mask": ints([1] * len(tokens) + [0] * pad),
            "segment_ids": ints([0] * (len(self.a) + 2) + [1] * (len(self.b) + 1 if self.b else 0) + [0] * pad),
            "masked_lm_positions": ints([position for position, _ in self.masks] + [0] * unpredicted),
            "masked_lm_ids": ints([VOCAB[self.tokens[position]] for position, _ in self.masks] + [0] * unpredicted),
            "masked_lm_weights": tf.train.Feature(float_list=tf.train.FloatList(
                value=[1.0] * len(self.masks) + [0.0] * unpredicted)),
            "next_sentence_labels": ints([int(self.random_next)]),
        }))


# The first record of shard 0, so the first decoded example. B starts with a piece, as after truncate_seq_pair.
SHOWCASE = Instance(a=["the", "quick", "fox", "jump", "##ed"], b=["##s", "play", "##ing", "outside"],
                    random_next=False, masks=[(2, "mask"), (3, "kept"), (8, "random")])
SHOWCASE_TEXT = "[CLS] the [MASK](quick) fox(fox) jumped [SEP] ##s zebra(play) ##ing outside [SEP]"


def generated(index: int) -> Instance:
    """Lengths 5..20 (some full), 0..4 predictions of every kind, every third one random-next."""
    a = [WORDS[(index + j) % len(WORDS)] for j in range(1 + index % 5)]
    b = [WORDS[(index * 3 + j) % len(WORDS)] for j in range(1 + (index * 5) % 12)]
    instance = Instance(a=a, b=b, random_next=index % 3 == 0)
    candidates = [p for p, token in enumerate(instance.tokens) if token not in ("[CLS]", "[SEP]")]
    instance.masks = [(p, KIND_CYCLE[(index + j) % 4]) for j, p in enumerate(candidates[: index % 5])]
    return instance


INSTANCES = [SHOWCASE] + [generated(index) for index in range(1, 36)]


def write_folder(folder: str, instances: list[Instance], compression: str | None = None,
                 vocab_file: str = VOCAB_FILE, vocab_size: int = len(VOCAB),
                 vocab_sha256: str = VOCAB_SHA256) -> list[list[Instance]]:
    """Round-robin over NUM_SHARDS shards plus metadata.json; returns the instances of each shard."""
    tf.io.gfile.makedirs(folder)
    shards = [instances[shard::NUM_SHARDS] for shard in range(NUM_SHARDS)]
    names = [shard_name(shard, NUM_SHARDS, compression) for shard in range(NUM_SHARDS)]
    for name, shard in zip(names, shards, strict=True):
        with tf.io.TFRecordWriter(f"{folder}/{name}", options="GZIP" if compression else None) as writer:
            for instance in shard:
                writer.write(instance.example().SerializeToString(deterministic=True))
    metadata = DatasetMetadata(
        max_seq_length=MAX_SEQ_LENGTH, max_predictions_per_seq=MAX_PREDICTIONS, masked_lm_prob=0.15,
        short_seq_prob=0.1, dupe_factor=1, whole_word_mask=False, do_lower_case=True, seed=7, nsp=True,
        compression=compression, vocab_file=vocab_file, vocab_sha256=vocab_sha256, vocab_size=vocab_size,
        num_instances=len(instances), num_shards=NUM_SHARDS, files=names,
        file_bytes={name: tf.io.gfile.stat(f"{folder}/{name}").length for name in names},
    )
    with tf.io.gfile.GFile(f"{folder}/{METADATA_FILE}", "w") as handle:
        handle.write(metadata.to_json())
    return shards


def rewrite_metadata(folder: str, **changes) -> None:
    metadata = inspect_data.read_metadata(folder)
    for name, value in changes.items():
        setattr(metadata, name, value)
    with tf.io.gfile.GFile(f"{folder}/{METADATA_FILE}", "w") as handle:
        handle.write(metadata.to_json())


def small_vocab(folder, size: int = 200) -> str:
    """The first `size` lines of BERT's vocab: the specials, few words."""
    path = folder / f"vocab-{size}.txt"
    with open(VOCAB_FILE, encoding="utf-8") as handle:
        path.write_text("".join(next(handle) for _ in range(size)), encoding="utf-8")
    return str(path)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    inspect_command.add_arguments(parser)
    return parser.parse_args(argv)


def test_generated_instances_cover_what_the_report_distinguishes():
    # Guards the fixture: the statistics below would be weak if these cases were absent.
    lengths = {len(instance.tokens) for instance in INSTANCES}
    assert max(lengths) == MAX_SEQ_LENGTH and min(lengths) < MAX_SEQ_LENGTH // 2
    assert {len(instance.masks) for instance in INSTANCES} == set(range(MAX_PREDICTIONS + 1))
    assert {kind for instance in INSTANCES for _, kind in instance.masks} == set(KIND_CYCLE)


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_statistics_match_the_written_instances(tmp_path, compression):
    write_folder(str(tmp_path), INSTANCES, compression)
    report = inspect_data.read_report(str(tmp_path))

    lengths = [len(instance.tokens) for instance in INSTANCES]
    kinds = [kind for instance in INSTANCES for _, kind in instance.masks]
    num_masked = [len(instance.masks) for instance in INSTANCES]
    assert report.num_instances == len(INSTANCES) and not report.sampled and not report.warnings
    assert report.shards_read == [shard_name(shard, NUM_SHARDS, compression) for shard in range(NUM_SHARDS)]
    assert report.lengths.counts == [lengths.count(length) for length in range(MAX_SEQ_LENGTH + 1)]
    assert report.lengths.mean == pytest.approx(statistics.mean(lengths))
    assert report.lengths.median == statistics.median(lengths)
    assert (report.lengths.min, report.lengths.max) == (min(lengths), max(lengths))
    assert report.padding_share == pytest.approx(1 - sum(lengths) / (len(INSTANCES) * MAX_SEQ_LENGTH))
    assert report.masked_per_instance.counts == [num_masked.count(n) for n in range(MAX_PREDICTIONS + 1)]
    assert report.masked_per_instance.mean == pytest.approx(statistics.mean(num_masked))
    assert report.num_predictions == len(kinds)
    assert report.mask_share == pytest.approx(kinds.count("mask") / len(kinds))
    assert report.kept_share == pytest.approx(kinds.count("kept") / len(kinds))
    assert report.random_share == pytest.approx(kinds.count("random") / len(kinds))
    assert report.random_next_share == pytest.approx(sum(i.random_next for i in INSTANCES) / len(INSTANCES))
    assert report.segment_a_mean == pytest.approx(statistics.mean(len(i.a) for i in INSTANCES))
    assert report.segment_b_mean == pytest.approx(statistics.mean(len(i.b) for i in INSTANCES))


def test_segment_means_without_next_sentence_pairs(tmp_path):
    instances = [Instance(a=WORDS[: 2 + index], b=[], random_next=False) for index in range(5)]
    write_folder(str(tmp_path), instances)
    report = inspect_data.read_report(str(tmp_path))
    assert (report.segment_a_mean, report.segment_b_mean) == (4.0, 0.0)  # A holds 2..6 words
    assert report.examples[0].text == "[CLS] the quick [SEP]"


def test_median_of_an_odd_count_is_the_middle_value():
    distribution = inspect_data.Distribution.from_counts(np.array([0, 2, 0, 1, 0, 0, 4]))
    assert (distribution.median, distribution.min, distribution.max) == (6, 1, 6)
    assert distribution.mean == pytest.approx((2 * 1 + 3 + 4 * 6) / 7)


def test_examples_are_decoded_with_predictions_shown_and_pieces_joined(tmp_path):
    write_folder(str(tmp_path), INSTANCES)
    report = inspect_data.read_report(str(tmp_path), examples=3)
    assert len(report.examples) == 3
    first = report.examples[0]
    assert first.text == SHOWCASE_TEXT
    assert (first.length, first.num_masked, first.random_next) == (12, 3, False)
    assert inspect_data.read_report(str(tmp_path), examples=0).examples == []


def test_length_bins_give_full_length_a_row_of_its_own():
    counts = [0] * 5 + [1] * 15 + [6]  # lengths 5..19 once each, 20 six times
    assert inspect_data.length_bins(counts, num_bins=4) == [(0, 4, 0), (5, 9, 5), (10, 14, 5), (15, 19, 5),
                                                            (20, 20, 6)]
    assert inspect_data.length_bins([0, 0, 1, 1, 0, 0, 0, 2], num_bins=3) == [(0, 2, 1), (3, 5, 1), (6, 6, 0),
                                                                              (7, 7, 2)]


def test_text_report_shows_each_statistic(tmp_path):
    write_folder(str(tmp_path), INSTANCES)
    text = inspect_data.format_report(inspect_data.read_report(str(tmp_path)))
    full = sum(len(instance.tokens) == MAX_SEQ_LENGTH for instance in INSTANCES)
    assert f"{len(INSTANCES)} instances (agrees with metadata), 3 of 3 shards read" in text
    assert any(line.split()[:3] == ["20", "(full)", str(full)] for line in text.splitlines())
    random_next = sum(instance.random_next for instance in INSTANCES)
    assert f"random next (label 1): {random_next / len(INSTANCES):.2%}" in text
    assert SHOWCASE_TEXT in text and "warnings" not in text


def test_max_instances_reads_a_sample(tmp_path, monkeypatch):
    write_folder(str(tmp_path), INSTANCES)
    sample = inspect_data.read_report(str(tmp_path), max_instances=7)
    assert (sample.num_instances, sample.sampled, sum(sample.lengths.counts)) == (7, True, 7)
    assert "a sample: the first 7 of 36 in metadata" in inspect_data.format_report(sample)
    whole = inspect_data.read_report(str(tmp_path), max_instances=len(INSTANCES))
    assert (whole.num_instances, whole.sampled) == (len(INSTANCES), False)
    # The record that tells "there is more" alone in the last batch.
    monkeypatch.setattr(inspect_data, "BATCH_SIZE", 5)
    assert inspect_data.read_report(str(tmp_path), max_instances=10).num_instances == 10


def test_unlisted_shards_are_named_and_not_read(tmp_path):
    write_folder(str(tmp_path), INSTANCES)
    (tmp_path / "part-00000-of-00009.tfrecord").write_bytes((tmp_path / shard_name(0, NUM_SHARDS, None)).read_bytes())
    rewrite_metadata(str(tmp_path), num_shards=4)
    report = inspect_data.read_report(str(tmp_path))
    assert report.num_instances == len(INSTANCES)
    assert report.unlisted_shards == ["part-00000-of-00009.tfrecord"]
    assert report.warnings == [
        f"shard not listed in {METADATA_FILE}, not read: part-00000-of-00009.tfrecord",
        "metadata says num_shards 4 but lists 3 files",
    ]
    assert "warnings:" in inspect_data.format_report(report)


def test_a_listed_shard_missing_or_of_another_size_is_refused_naming_it(tmp_path):
    write_folder(str(tmp_path), INSTANCES)
    shard = tmp_path / shard_name(1, NUM_SHARDS, None)
    written = shard.stat().st_size
    shard.write_bytes(shard.read_bytes()[:-7])  # a copy cut short
    with pytest.raises(inspect_data.InspectError, match=f"{shard.name} has {written - 7} bytes, not the {written}"):
        inspect_data.read_report(str(tmp_path))
    shard.unlink()
    with pytest.raises(inspect_data.InspectError, match=f"1 of the 3 shards .* {shard.name} is missing"):
        inspect_data.read_report(str(tmp_path))


def test_command_prints_text_and_json_and_writes_png_through_gfile(capsys):
    folder = f"ram://bertprep-inspect-{uuid.uuid4().hex}/seq{MAX_SEQ_LENGTH}"  # TF's in-memory filesystem
    write_folder(folder, INSTANCES, "gzip")

    assert inspect_command.run(parse([folder]), []) == 0
    text = capsys.readouterr().out
    plot = f"{folder}/length_histogram.png"
    assert f"length plot: {plot}" in text and SHOWCASE_TEXT in text
    with tf.io.gfile.GFile(plot, "rb") as handle:
        png = handle.read()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000

    other_plot = f"{folder}/other.png"
    assert inspect_command.run(parse([folder, "--json", "--examples", "1", "--plot", other_plot]), []) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["num_instances"] == len(INSTANCES) and record["plot"] == other_plot
    assert record["metadata"]["compression"] == "gzip"
    assert [example["text"] for example in record["examples"]] == [SHOWCASE_TEXT]
    assert tf.io.gfile.exists(other_plot)


def test_no_plot_writes_nothing(tmp_path, capsys):
    write_folder(str(tmp_path), INSTANCES)
    assert inspect_command.run(parse([str(tmp_path), "--no_plot"]), []) == 0
    assert "length plot" not in capsys.readouterr().out
    assert not (tmp_path / "length_histogram.png").exists()


def test_folder_without_metadata_is_refused_with_a_hint(tmp_path):
    write_folder(str(tmp_path / "seq20"), INSTANCES)
    with pytest.raises(UsageError, match=r"no metadata\.json in .*seq20"):
        inspect_command.run(parse([str(tmp_path)]), [])


def test_vocab_of_another_size_is_refused(tmp_path):
    write_folder(str(tmp_path / "data"), INSTANCES)
    with pytest.raises(UsageError, match="has 200 tokens but the data was made with a vocab of 30522"):
        inspect_command.run(parse([str(tmp_path / "data"), "--vocab", small_vocab(tmp_path)]), [])


def test_vocab_of_the_same_size_but_other_content_is_refused(tmp_path):
    other = tmp_path / "other-vocab.txt"
    lines = pathlib.Path(VOCAB_FILE).read_text(encoding="utf-8").splitlines()
    other.write_text("\n".join([*lines[:-1], "zzzzzz"]) + "\n", encoding="utf-8")
    write_folder(str(tmp_path / "data"), INSTANCES)
    with pytest.raises(UsageError, match="not the vocab the data was made with"):
        inspect_command.run(parse([str(tmp_path / "data"), "--vocab", str(other), "--no_plot"]), [])


def test_token_ids_beyond_the_vocab_are_flagged_and_shown_as_ids(tmp_path):
    # As if made with the 200-token vocab, by a writer that recorded no SHA-256.
    write_folder(str(tmp_path / "data"), INSTANCES, vocab_size=200, vocab_sha256="")
    report = inspect_data.read_report(str(tmp_path / "data"), vocab=small_vocab(tmp_path))
    largest = max(VOCAB[token] for token in {RANDOM_WORD}.union(*(instance.tokens for instance in INSTANCES)))
    assert report.warnings == [f"token id {largest} is beyond the vocab (200 tokens)"]
    assert report.examples[0].text.startswith(f"[CLS] [id {VOCAB['the']}?] [MASK]([id {VOCAB['quick']}?])")


def test_unreadable_metadata_vocab_needs_vocab_flag(tmp_path, capsys):
    folder = str(tmp_path / "data")
    write_folder(folder, INSTANCES, vocab_file=str(tmp_path / "gone" / "vocab.txt"))
    with pytest.raises(UsageError, match="cannot read vocab file .*--vocab_file PATH"):
        inspect_command.run(parse([folder, "--no_plot"]), [])
    assert inspect_command.run(parse([folder, "--no_plot", "--vocab", VOCAB_FILE]), []) == 0
    assert SHOWCASE_TEXT in capsys.readouterr().out


def test_shards_compressed_otherwise_than_metadata_says_are_refused(tmp_path):
    folder = str(tmp_path)
    write_folder(folder, INSTANCES)
    rewrite_metadata(folder, compression="gzip")  # the file names stay those of the uncompressed shards
    with pytest.raises(inspect_data.InspectError, match="not readable as gzip TFRecords"):
        inspect_data.read_report(folder)


def test_records_that_do_not_match_metadata_are_refused(tmp_path):
    folder = str(tmp_path)
    write_folder(folder, INSTANCES)
    rewrite_metadata(folder, max_seq_length=32)
    with pytest.raises(inspect_data.InspectError, match="do not match the feature spec"):
        inspect_data.read_report(folder)


def test_unusable_metadata_and_empty_folders_are_refused(tmp_path):
    folder = str(tmp_path / "data")
    write_folder(folder, INSTANCES)
    rewrite_metadata(folder, compression="zstd")
    with pytest.raises(inspect_data.InspectError, match="compression 'zstd' is unknown"):
        inspect_data.read_report(folder)
    rewrite_metadata(folder, compression=None, files=["part-00000-of-00001.tfrecord"])
    with pytest.raises(inspect_data.InspectError, match="part-00000-of-00001.tfrecord is missing"):
        inspect_data.read_report(folder)
    (tmp_path / "data" / METADATA_FILE).write_text('{"format": "something else"}')
    with pytest.raises(inspect_data.InspectError, match="not a bertprep pretraining-data metadata file"):
        inspect_data.read_report(folder)
    empty = str(tmp_path / "empty")
    write_folder(empty, [])
    with pytest.raises(inspect_data.InspectError, match="hold no instances"):
        inspect_data.read_report(empty)


@pytest.mark.parametrize("argv, beam_args, message", [
    (["--examples", "-1"], [], "--examples"),
    (["--max_instances", "0"], [], "max_instances must be at least 1"),
    ([], ["--runner", "DirectRunner"], "unknown arguments --runner"),
])
def test_unusable_arguments_are_refused(tmp_path, argv, beam_args, message):
    write_folder(str(tmp_path), INSTANCES)
    with pytest.raises(UsageError, match=message):
        inspect_command.run(parse([str(tmp_path), *argv]), beam_args)
