"""What a pretraining-data folder holds: counts, lengths, masking, labels, decoded examples.

Reads the shards with tf.data (parse_example over batches) and folds each batch
into per-value counts with numpy, so memory stays bounded and a million
instances take seconds; only the few decoded examples touch single records.
"""
from __future__ import annotations

import io
import posixpath
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import numpy as np

from formats.pretraining_data import METADATA_FILE, SHARD_PATTERN, DatasetMetadata

BATCH_SIZE = 1024
PLOT_FILE = "length_histogram.png"  # the length plot's default name in the folder inspected
LENGTH_BINS = 8
_BAR_WIDTH = 40
_STRUCTURE_TOKENS = ("[CLS]", "[SEP]")
_COMPRESSION_TYPES = {None: "", "gzip": "GZIP"}  # metadata value -> TFRecordDataset compression_type


class InspectError(ValueError):
    """A folder or vocab that cannot be inspected; the message says what to change."""


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _value_sum(counts: np.ndarray) -> int:
    """The sum of the values that per-value counts describe."""
    return int((np.arange(len(counts)) * counts).sum())


@dataclass
class Distribution:
    """How often an integer quantity takes each value (`counts[v]` = instances with value v)."""

    counts: list[int]
    mean: float
    median: float
    min: int
    max: int

    @classmethod
    def from_counts(cls, counts: np.ndarray) -> Distribution:
        total = int(counts.sum())
        cumulative = np.cumsum(counts)

        def value_at(rank: int) -> int:  # the rank-th smallest value, 0-based
            return int(np.searchsorted(cumulative, rank, side="right"))

        present = np.flatnonzero(counts)
        return cls(
            counts=[int(count) for count in counts],
            mean=_value_sum(counts) / total,
            median=(value_at((total - 1) // 2) + value_at(total // 2)) / 2,
            min=int(present[0]),
            max=int(present[-1]),
        )


@dataclass
class DecodedExample:
    index: int  # position in the reading order
    random_next: bool
    length: int
    num_masked: int
    text: str  # masked positions as shown(original), e.g. [MASK](fox)


@dataclass
class InspectReport:
    folder: str
    metadata: DatasetMetadata
    vocab_file: str
    num_instances: int
    sampled: bool  # stopped at max_instances before the end of the data
    shards_read: list[str]
    unlisted_shards: list[str]  # in the folder, not in metadata.json: not read
    lengths: Distribution  # real tokens per instance, sum(input_mask)
    padding_share: float
    masked_per_instance: Distribution
    num_predictions: int
    mask_share: float  # of predictions: input shows [MASK]
    kept_share: float  # input shows the original token
    random_share: float  # input shows another token
    random_next_share: float
    segment_a_mean: float  # tokens of A and of B, without [CLS]/[SEP]
    segment_b_mean: float
    examples: list[DecodedExample]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def read_metadata(folder: str) -> DatasetMetadata:
    from bert_model.input_pipeline import PretrainingDataError
    from bert_model.input_pipeline import read_metadata as read

    try:
        return read(folder)
    except PretrainingDataError as error:
        raise InspectError(str(error)) from None


def read_vocab(path: str, metadata: DatasetMetadata) -> list[str]:
    """Tokens by id; refuses a vocab other than the one the data was made with (size, then SHA-256)."""
    import hashlib

    import tensorflow as tf

    from vocab.tokenization import VocabError, parse_vocab

    hint = "give the vocab the data was made with as --vocab_file PATH"
    try:
        with tf.io.gfile.GFile(path, "rb") as handle:
            data = handle.read()
    except tf.errors.OpError as error:
        raise InspectError(f"cannot read vocab file {path}: {error.message}; {hint}") from None
    try:
        vocab = parse_vocab(data, path)
    except VocabError as error:
        raise InspectError(f"{error}; {hint}") from None
    if len(vocab) != metadata.vocab_size:
        raise InspectError(f"{path} has {len(vocab)} tokens but the data was made with a vocab of "
                           f"{metadata.vocab_size} (metadata vocab_size); give the matching vocab as --vocab_file PATH")
    if metadata.vocab_sha256 and hashlib.sha256(data).hexdigest() != metadata.vocab_sha256:
        raise InspectError(f"{path} is not the vocab the data was made with (its SHA-256 differs from metadata "
                           "vocab_sha256); give the matching vocab as --vocab_file PATH")
    return list(vocab)  # tokens are numbered 0..n-1 in file order


class _Tally:
    """Per-value counts and sums over the batches, plus the first few instances for decoding."""

    def __init__(self, metadata: DatasetMetadata, mask_id: int, num_examples: int):
        self.mask_id = mask_id
        self.num_examples = num_examples
        self.instances = 0
        self.length_counts = np.zeros(metadata.max_seq_length + 1, np.int64)
        self.masked_counts = np.zeros(metadata.max_predictions_per_seq + 1, np.int64)
        self.shown_mask = self.shown_kept = self.random_next = self.segment_a = self.segment_b = 0
        self.max_token_id = 0
        self.first: list[dict[str, np.ndarray]] = []

    def add(self, batch: dict[str, np.ndarray]) -> None:
        real = batch["input_mask"]
        lengths = real.sum(axis=1)
        in_b = (batch["segment_ids"] * real).sum(axis=1)
        predicted = batch["masked_lm_weights"] > 0
        shown = np.take_along_axis(batch["input_ids"], batch["masked_lm_positions"], axis=1)
        is_mask = predicted & (shown == self.mask_id)
        self.instances += len(lengths)
        self.length_counts += np.bincount(lengths, minlength=len(self.length_counts))
        self.masked_counts += np.bincount(predicted.sum(axis=1), minlength=len(self.masked_counts))
        self.shown_mask += int(is_mask.sum())
        self.shown_kept += int((predicted & (shown == batch["masked_lm_ids"])).sum())
        self.random_next += int(batch["next_sentence_labels"].sum())
        # [CLS] A [SEP] B [SEP] (or [CLS] A [SEP] without next-sentence pairs): two specials in A, one in B.
        self.segment_a += int((lengths - in_b - 2).sum())
        self.segment_b += int(np.maximum(in_b - 1, 0).sum())
        self.max_token_id = max(self.max_token_id, int(batch["input_ids"].max()))
        for row in range(min(self.num_examples - len(self.first), len(lengths))):
            self.first.append({name: values[row] for name, values in batch.items()})


def _records(files: list[str], metadata: DatasetMetadata, limit: int | None) -> Iterator[dict[str, np.ndarray]]:
    """Parsed batches as numpy dicts; with a limit, one record more, so the caller can tell a sample."""
    import tensorflow as tf

    try:
        compression = _COMPRESSION_TYPES[metadata.compression]
    except KeyError:
        raise InspectError(f"metadata compression {metadata.compression!r} is unknown (expected none or 'gzip')"
                           ) from None
    spec = {name: tf.io.FixedLenFeature(feature["shape"], tf.dtypes.as_dtype(feature["dtype"]))
            for name, feature in metadata.features.items()}
    records = tf.data.TFRecordDataset(files, compression_type=compression, num_parallel_reads=tf.data.AUTOTUNE)
    if limit is not None:
        records = records.take(limit + 1)
    batches = records.batch(BATCH_SIZE).map(lambda serialized: tf.io.parse_example(serialized, spec),
                                            num_parallel_calls=tf.data.AUTOTUNE)
    try:
        yield from batches.prefetch(tf.data.AUTOTUNE).as_numpy_iterator()
    except tf.errors.DataLossError as error:
        raise InspectError(f"shards in {posixpath.dirname(files[0])} are not readable as "
                           f"{metadata.compression or 'uncompressed'} TFRecords: {error.message}") from None
    except tf.errors.InvalidArgumentError as error:
        raise InspectError(f"records do not match the feature spec in {METADATA_FILE} (max_seq_length "
                           f"{metadata.max_seq_length}, max_predictions_per_seq {metadata.max_predictions_per_seq}): "
                           f"{error.message}") from None


def decode_example(instance: dict[str, np.ndarray], tokens: list[str]) -> str:
    """Real tokens as text: "##" pieces joined to their word, predicted positions as shown(original)."""

    def token(token_id: int) -> str:
        return tokens[token_id] if token_id < len(tokens) else f"[id {token_id}?]"

    ids = instance["input_ids"][: int(instance["input_mask"].sum())]
    predicted = instance["masked_lm_weights"] > 0
    originals = dict(zip(instance["masked_lm_positions"][predicted].tolist(),
                         instance["masked_lm_ids"][predicted].tolist(), strict=True))
    words: list[str] = []
    joinable = False  # a "##" piece continues the previous word only where that shows a plain token
    for position, token_id in enumerate(ids.tolist()):
        shown = token(token_id)
        if position in originals:
            words.append(f"{shown}({token(originals[position])})")
        elif joinable and shown.startswith("##"):
            words[-1] += shown[2:]
        else:
            words.append(shown)
        joinable = position not in originals and shown not in _STRUCTURE_TOKENS
    return " ".join(words)


def _shard_names(folder: str, metadata: DatasetMetadata) -> tuple[list[str], list[str]]:
    """(the shards metadata.json lists, other shards in the folder), as file names; refuses a folder where a
    listed shard is missing or of another size than recorded."""
    import tensorflow as tf

    from bert_model.input_pipeline import PretrainingDataError, shard_paths

    try:
        listed = [posixpath.basename(path) for path in shard_paths(folder, metadata)]
    except PretrainingDataError as error:
        raise InspectError(str(error)) from None
    present = {posixpath.basename(path) for path in tf.io.gfile.glob(f"{folder}/{SHARD_PATTERN}")}
    return listed, sorted(present - set(listed))


def read_report(folder: str, vocab: str | None = None, examples: int = 3,
                max_instances: int | None = None) -> InspectReport:
    """Reads the folder's shards (all, or the first `max_instances`) and summarizes them."""
    if max_instances is not None and max_instances < 1:
        raise InspectError(f"max_instances must be at least 1, got {max_instances}")
    folder = folder.rstrip("/")
    metadata = read_metadata(folder)
    vocab_file = vocab or metadata.vocab_file
    tokens = read_vocab(vocab_file, metadata)
    shards, unlisted = _shard_names(folder, metadata)
    if not shards:
        raise InspectError(f"{folder}/{METADATA_FILE} lists no shards")
    tally = _Tally(metadata, tokens.index("[MASK]"), examples)
    sampled = False
    for batch in _records([f"{folder}/{name}" for name in shards], metadata, max_instances):
        if max_instances is not None and tally.instances + len(batch["input_ids"]) > max_instances:
            batch = {name: values[: max_instances - tally.instances] for name, values in batch.items()}
            sampled = True
        if len(batch["input_ids"]):  # the record past the limit may come alone in the last batch
            tally.add(batch)
    if not tally.instances:
        raise InspectError(f"the shards in {folder} hold no instances")

    warnings = [f"shard not listed in {METADATA_FILE}, not read: {name}" for name in unlisted]
    if metadata.num_shards != len(metadata.files):
        warnings.append(f"metadata says num_shards {metadata.num_shards} but lists {len(metadata.files)} files")
    if not sampled and tally.instances != metadata.num_instances:
        warnings.append(f"metadata says {metadata.num_instances} instances, the shards hold {tally.instances}")
    if tally.max_token_id >= len(tokens):
        warnings.append(f"token id {tally.max_token_id} is beyond the vocab ({len(tokens)} tokens)")

    positions = tally.instances * metadata.max_seq_length
    lengths = Distribution.from_counts(tally.length_counts)
    masked = Distribution.from_counts(tally.masked_counts)
    num_predictions = _value_sum(tally.masked_counts)
    decoded = [DecodedExample(index=index, random_next=bool(instance["next_sentence_labels"][0]),
                              length=int(instance["input_mask"].sum()),
                              num_masked=int((instance["masked_lm_weights"] > 0).sum()),
                              text=decode_example(instance, tokens))
               for index, instance in enumerate(tally.first)]
    return InspectReport(
        folder=folder, metadata=metadata, vocab_file=vocab_file, num_instances=tally.instances, sampled=sampled,
        shards_read=shards, unlisted_shards=unlisted, lengths=lengths,
        padding_share=_share(positions - _value_sum(tally.length_counts), positions),
        masked_per_instance=masked, num_predictions=num_predictions,
        mask_share=_share(tally.shown_mask, num_predictions), kept_share=_share(tally.shown_kept, num_predictions),
        random_share=_share(num_predictions - tally.shown_mask - tally.shown_kept, num_predictions),
        random_next_share=_share(tally.random_next, tally.instances),
        segment_a_mean=tally.segment_a / tally.instances, segment_b_mean=tally.segment_b / tally.instances,
        examples=decoded, warnings=warnings,
    )


def length_bins(counts: list[int], num_bins: int = LENGTH_BINS) -> list[tuple[int, int, int]]:
    """(first, last, instances) over equal ranges below the maximum length, then the full length alone.

    Full-length instances get a row of their own: with the reference's algorithm they are most of the data.
    """
    full = len(counts) - 1
    width = -(-full // num_bins)
    ends = [(low, min(low + width, full)) for low in range(0, full, width)]
    rows = [(low, end - 1, sum(counts[low:end])) for low, end in ends]
    return rows + [(full, full, counts[full])]


def _table(heading: str, rows: list[tuple[str, int]], total: int) -> list[str]:
    """label, instances, share and a bar scaled to the largest row."""
    largest = max(count for _, count in rows) or 1
    width = max(len(label) for label, _ in [(heading, 0), *rows])
    return [f"  {heading:<{width}}  {'instances':>10}  {'share':>7}", *(
        f"  {label:<{width}}  {count:>10,}  {count / total:7.2%}  {'#' * round(_BAR_WIDTH * count / largest)}"
        for label, count in rows)]


def _summary(distribution: Distribution) -> str:
    return (f"mean {distribution.mean:.2f}, median {distribution.median:g}, "
            f"min {distribution.min}, max {distribution.max}")


def format_report(report: InspectReport) -> str:
    meta = report.metadata
    total = report.num_instances
    scope = (f"a sample: the first {total:,} of {meta.num_instances:,} in metadata" if report.sampled
             else "agrees with metadata" if total == meta.num_instances else f"metadata says {meta.num_instances:,}")
    lines = [
        f"{report.folder}: {total:,} instances ({scope}), {len(report.shards_read)} of {len(meta.files)} shards read",
        (f"  max_seq_length {meta.max_seq_length}, max_predictions_per_seq {meta.max_predictions_per_seq}, "
         f"masked_lm_prob {meta.masked_lm_prob}, dupe_factor {meta.dupe_factor}, "
         f"whole_word_mask {meta.whole_word_mask}, nsp {meta.nsp}, compression {meta.compression or 'none'}"),
        f"  vocab {report.vocab_file} ({meta.vocab_size} tokens)",
        "",
        f"sequence length (real tokens): {_summary(report.lengths)}",
        *_table("tokens", [(f"{low}-{last}" if low != last else f"{low} (full)", count)
                 for low, last, count in length_bins(report.lengths.counts)], total),
        f"padding: {report.padding_share:.2%} of all positions",
        "",
        f"masked positions per instance: {_summary(report.masked_per_instance)}",
        *_table("masked", [(str(value), report.masked_per_instance.counts[value])
                 for value in range(report.masked_per_instance.min, report.masked_per_instance.max + 1)], total),
        (f"predictions: {report.num_predictions:,}; shown as [MASK] {report.mask_share:.2%}, "
         f"kept {report.kept_share:.2%}, random {report.random_share:.2%}"),
        "",
        f"random next (label 1): {report.random_next_share:.2%}",
        f"segment tokens without [CLS]/[SEP]: A {report.segment_a_mean:.2f}, B {report.segment_b_mean:.2f} on average",
    ]
    for example in report.examples:
        label = "random next" if example.random_next else "actual next"
        lines += ["", f"example {example.index + 1} ({example.length} tokens, {example.num_masked} masked, {label}):",
                  f"  {example.text}"]
    if report.warnings:
        lines += ["", "warnings:", *(f"  {warning}" for warning in report.warnings)]
    return "\n".join(lines)


def plot_lengths(report: InspectReport, path: str) -> None:
    """Writes a PNG bar chart of the length distribution to `path` (local, gs://, any tf.io.gfile path)."""
    import tensorflow as tf
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # A Figure with its own Agg canvas: no pyplot global state, no display needed.
    figure = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    counts = report.lengths.counts
    axes.bar(range(len(counts)), counts, width=1.0, color="tab:blue")
    axes.axvline(report.lengths.mean, color="tab:red", linestyle="--", label=f"mean {report.lengths.mean:.1f}")
    axes.set_xlim(0, len(counts))
    axes.set_xlabel("real tokens per instance (sum of input_mask)")
    axes.set_yscale("log")  # full-length instances are most of the data; a linear scale would hide the rest
    axes.set_ylabel("instances (log scale)")
    sample = " (sample)" if report.sampled else ""
    axes.set_title(f"{report.folder}: {report.num_instances:,} instances{sample}", fontsize=10)
    axes.legend()
    figure.tight_layout()
    # Rendered in memory, then written through tf.io.gfile, which matplotlib cannot write to itself.
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    with tf.io.gfile.GFile(path, "wb") as handle:
        handle.write(buffer.getvalue())
