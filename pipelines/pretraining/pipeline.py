"""`bertprep pretraining-data` as a Beam pipeline: documents -> sharded masked-LM/NSP TFRecords.

How a random next segment comes from the whole corpus without any worker
holding the corpus:

1. Each document is tokenized once (for every sequence length) and gets a
   64-bit rank key from (seed, document id).
2. The documents are counted; the rank-key space is cut into contiguous
   ranges of about `_DOCS_PER_RANGE` documents. Per-range counts give every
   document a dense rank 0..N-1 in rank-key order.
3. Group by range: each group holds a few documents in rank order. For each
   document, length and duplicate round the chunks are planned; actual-next
   instances are made on the spot. A random-next chunk becomes a *request*
   carrying its A segment, addressed to a donor rank drawn uniformly from the
   N-1 other ranks — any document of the corpus.
4. Requests and documents meet again grouped by range (a keyed shuffle); the
   donor picks the B segment from a random sentence and the instance is
   finished there.
5. Each instance's order key (from the seed and its stable key) picks its
   shard and its place within the shard, so a document's instances spread
   uniformly over the shards and each shard is shuffled.

Memory per worker is a range group (tens of documents and the requests to
them) or one shard being written, whatever the corpus size. How documents,
requests and instances travel through the shuffles (as Beam elements, or as
files) is pipelines.pretraining.handoff's.
"""
from __future__ import annotations

import itertools
import math
import posixpath
import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.pvalue import AsSingleton, TaggedOutput

from formats.pretraining_data import (
    METADATA_FILE,
    DatasetMetadata,
    length_folder,
    shard_name,
)
from pipelines import progress
from pipelines.output_folder import Staging, run_identity
from pipelines.pretraining.handoff import HANDOFFS, Spilled, SpoolingDoFn, Spread, load
from pipelines.pretraining.instances import (
    DONOR_RANK,
    DONOR_START,
    Chunk,
    DocumentRun,
    InstanceBatch,
    InstanceOptions,
    SpecialIds,
    TokenizedDocument,
    instance_seeds,
    plan_chunks,
    random_words,
    span_index,
    stable_int,
)
from pipelines.pretraining.shard_writer import shard_piece, write_shard
from pipelines.pretraining.tokens import DocumentTokenizer
from vocab.tokenization import FullTokenizer

BERT_TEXT = "bert-text"
DOCUMENT_COLUMNS = ("id", "sentences")  # what this stage reads of the corpus stage's Parquet documents
_DOCS_PER_RANGE = 32
_MAX_RANGES = 1 << 20  # beyond ~32M documents, ranges grow instead of the side input
_SHARD_BYTES = 64 * 2**20  # automatic sharding target
COUNTS = "counts"
REQUESTS = "requests"


@dataclass(frozen=True)
class PretrainingOptions:
    output: str
    lengths: tuple[InstanceOptions, ...]
    dupe_factor: int = 5
    seed: int = 12345
    do_lower_case: bool = True
    num_shards: int = 0  # 0: automatic, from the token count
    compression: str | None = None
    vocab_file: str = ""
    vocab_sha256: str = ""
    input_stats: dict = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)  # input file -> bytes: part of what identifies the run
    docs_per_range: int = _DOCS_PER_RANGE  # documents a worker holds at once while pairing
    handoff: str = "shuffle"  # how shuffled data travels: see pipelines.pretraining.handoff
    handoff_folder: str = ""  # where "files" puts it (pipelines.pretraining.handoff.handoff_folder)
    # The reference's --output_file: the one length's shards under these names, directly in `output` with
    # metadata.json beside them, instead of seqL/part-*.
    shard_files: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.handoff not in HANDOFFS:
            raise ValueError(f"unknown handoff {self.handoff!r}; use one of {', '.join(HANDOFFS)}")
        if self.handoff == "files" and not self.handoff_folder:
            raise ValueError("the files handoff needs a handoff_folder")
        if self.shard_files and (len(self.lengths) > 1 or self.num_shards != len(self.shard_files)):
            raise ValueError("named shard files hold one length, one shard each")

    def length_dir(self, size: int) -> str:
        """The folder of one length's shards and metadata.json, relative to `output` ("" for `output`)."""
        return "" if self.shard_files else length_folder(size)

    def shard_names(self, size: int, num_shards: int) -> list[str]:
        """The names of one length's shards in its folder."""
        if self.shard_files:
            return list(self.shard_files)
        return [shard_name(shard, num_shards, self.compression) for shard in range(num_shards)]

    def in_length_dir(self, size: int, name: str) -> str:
        """A file of one length's folder, relative to `output`."""
        folder = self.length_dir(size)
        return f"{folder}/{name}" if folder else name

    @property
    def nsp(self) -> bool:
        return self.lengths[0].nsp

    def length_run(self, length: InstanceOptions) -> dict:
        """What identifies the run that makes one length's folder (recorded in its metadata.json): each
        length's instances depend on the shared parameters and its own, never on the other lengths."""
        return run_identity("pretraining-data", {
            **asdict(length), "dupe_factor": self.dupe_factor, "seed": self.seed, "do_lower_case": self.do_lower_case,
            "num_shards": self.num_shards, "compression": self.compression, "vocab_sha256": self.vocab_sha256,
            "shard_files": list(self.shard_files),
        }, self.inputs)


class Layout(NamedTuple):
    """What the whole corpus decides: its size, the rank ranges, the shard counts."""

    num_documents: int
    num_ranges: int
    shards: dict[int, int]  # max_seq_length -> number of shards

    def range_of(self, rank_key: int) -> int:
        return (rank_key * self.num_ranges) >> 63  # rank keys are 63-bit (stable_int)


def make_layout(totals: tuple[int, int], options: PretrainingOptions) -> Layout:
    documents, tokens = totals
    ranges = max(1, min(_MAX_RANGES, math.ceil(documents / options.docs_per_range)))
    shards = {}
    for length in options.lengths:
        # About dupe_factor * tokens / content length instances of ~5 bytes per position.
        instances = options.dupe_factor * tokens / max(1, length.max_num_tokens)
        automatic = max(1, math.ceil(instances * length.max_seq_length * 5 / _SHARD_BYTES))
        shards[length.max_seq_length] = options.num_shards or automatic
    return Layout(documents, ranges, shards)


class RequestBatch(NamedTuple):
    """Random-next chunks waiting for their B segments from documents of one range, column by column
    (Beam pickles one object instead of one per request)."""

    donor_positions: np.ndarray  # the donor's place in the range's rank order
    requesters: np.ndarray  # rank key of the requesting document, never the donor's
    sizes: np.ndarray  # max_seq_length
    seeds: np.ndarray  # the instances', see instance_seeds
    a_tokens: np.ndarray  # A segments back to back
    a_offsets: np.ndarray  # A segment i is a_tokens[a_offsets[i]:a_offsets[i + 1]]
    a_starts: np.ndarray | None  # word starts of a_tokens, for whole-word masking
    target_b_lengths: np.ndarray


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


def _bert_text_documents(path: str, doc_prefix: str) -> Iterator[tuple[str, list[str]]]:
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


class ReadPretrainingDocuments(beam.PTransform):
    """(document id, sentences) from corpus-stage Parquet shards and reference-format text files."""

    def __init__(self, parquet_files: list[str], text_files: list[str]) -> None:
        super().__init__()
        self.parquet_files, self.text_files = parquet_files, text_files

    def expand(self, pipeline):
        parts = []
        if self.parquet_files:
            parts.append(
                pipeline
                | "ParquetFiles" >> beam.Create(self.parquet_files)
                | "ReadParquet" >> beam.io.ReadAllFromParquet(columns=list(DOCUMENT_COLUMNS))
                | "IdAndSentences" >> beam.Map(lambda row: (row["id"], list(row["sentences"] or ())))
            )
        if self.text_files:
            # Ids name the file relative to the inputs' common folder, so they
            # stay the same when the whole input moves (local disk -> gs://).
            base = posixpath.commonpath([posixpath.dirname(f) for f in self.text_files]) if len(self.text_files) > 1 \
                else posixpath.dirname(self.text_files[0])
            named = [(path, posixpath.relpath(path, base) if base else path) for path in self.text_files]
            parts.append(
                pipeline
                | "TextFiles" >> beam.Create(named)
                | "ReadBertText" >> beam.FlatMapTuple(_bert_text_documents)
            )
        return tuple(parts) | "AllDocuments" >> beam.Flatten(pipeline=pipeline.pipeline)


# ---------------------------------------------------------------------------
# Tokenizing and ranking
# ---------------------------------------------------------------------------


class _Stage(SpoolingDoFn):
    """Counts go to Beam metrics (the Dataflow UI) and to a COUNTS output (metadata.json); outputs bound
    for a large shuffle go through hand_off."""

    def __init__(self, options: PretrainingOptions) -> None:
        super().__init__(options.handoff, options.handoff_folder)
        self.options = options

    def count(self, counts: Counter) -> Iterator[TaggedOutput]:
        for name, value in counts.items():
            progress.counter("bertprep.pretraining", name).inc(value)
        yield TaggedOutput(COUNTS, dict(counts))


class DocumentRef(NamedTuple):
    """What the layout and the grouping by range need of a tokenized document, and the document (or
    where it was handed off)."""

    id: str
    num_tokens: int
    document: TokenizedDocument | Spilled


class TokenizeDocuments(_Stage):
    def __init__(self, options: PretrainingOptions, tokenizer: FullTokenizer) -> None:
        super().__init__(options)
        self.tokenizer = tokenizer

    def setup(self) -> None:
        self.tokenize = DocumentTokenizer(self.tokenizer, self.options.lengths[0].whole_word_mask)

    def process(self, element: tuple[str, list[str]]):
        doc_id, sentences = element
        document = self.tokenize(doc_id, sentences)
        counts = Counter(documents_read=1, sentences_read=len(sentences))
        if document is None:
            counts["documents_dropped_no_tokens"] += 1
        else:
            counts.update(documents=1, sentences=document.num_sentences, tokens=len(document.tokens),
                          sentences_dropped_no_tokens=len(sentences) - document.num_sentences)
            yield DocumentRef(doc_id, len(document.tokens), self.hand_off(document))
        yield from self.count(counts)


def _key_by_range(ref: DocumentRef, layout: Layout, seed: int) -> tuple[int, tuple[int, DocumentRef]]:
    rank_key = stable_int(seed, "rank", ref.id)
    return layout.range_of(rank_key), (rank_key, ref)


def _ordered(refs: Iterable[tuple[int, DocumentRef]]) -> tuple[list[TokenizedDocument], np.ndarray]:
    """A range's documents in rank order (rank key, then id, then content for duplicate ids), and their
    rank keys."""
    ordered = sorted(refs, key=lambda kr: (kr[0], kr[1].id))
    ranked = list(zip((rank for rank, _ in ordered), load(ref.document for _, ref in ordered)))
    if any(a.id == b.id for (_, a), (_, b) in itertools.pairwise(ranked)):  # rare: copy tokens only then
        ranked.sort(key=lambda kd: (kd[0], kd[1].id, kd[1].tokens.tobytes()))
    return [document for _, document in ranked], np.array([rank for rank, _ in ranked], dtype=np.int64)


def range_starts(range_counts: list[tuple[int, int]], layout: Layout) -> np.ndarray:
    """First dense rank of every range (and N at the end)."""
    counts = np.zeros(layout.num_ranges, dtype=np.int64)
    for index, count in range_counts:
        counts[index] = count
    return np.concatenate([[0], np.cumsum(counts)])


# ---------------------------------------------------------------------------
# Instances
# ---------------------------------------------------------------------------


class _MakesInstances(_Stage):
    def __init__(self, options: PretrainingOptions, special: SpecialIds) -> None:
        super().__init__(options)
        self.special = special

    def new_batches(self) -> dict[int, InstanceBatch]:
        return {length.max_seq_length: InstanceBatch(length, self.special)
                for length in self.options.lengths}

    def emit(self, batches: dict[int, InstanceBatch], layout: Layout, counts: Counter) -> Iterator:
        """((length, shard), ShardPiece or SpilledPiece) for every shard the batches' instances go to,
        then the counts."""
        for length, batch in batches.items():
            orders, records = batch.encode()
            shard_of = orders % layout.shards[length]
            for name, value in batch.counts.items():
                counts[f"seq{length}_{name}"] += value
            for shard in np.unique(shard_of).tolist():
                yield (length, shard), shard_piece(orders, records, np.flatnonzero(shard_of == shard), self.spool)
        yield from self.count(counts)


class CreateInstances(_MakesInstances):
    """A range group of documents -> actual-next instances and requests for random-next ones."""

    def process(self, element, layout: Layout, starts: np.ndarray):
        range_index, keyed_documents = element
        documents, rank_keys = _ordered(keyed_documents)
        batches, counts = self.new_batches(), Counter()
        if self.options.nsp:
            run = DocumentRun.of(documents)
            bases = {size: batch.add_tokens(run.tokens, run.word_starts) for size, batch in batches.items()}
            requests = [request for position, document in enumerate(documents)
                        for request in self._pairs(document, starts[range_index] + position, rank_keys[position],
                                                   run.document_offsets(position), layout, batches, bases, counts)]
            if requests:
                yield from self._requests(run, [np.concatenate(column) for column in zip(*requests)], starts)
        else:
            self._packed(documents, batches)
        yield from self.emit(batches, layout, counts)

    def _pairs(self, document: TokenizedDocument, rank: int, rank_key: int, offsets: np.ndarray, layout: Layout,
               batches: dict[int, InstanceBatch], bases: dict[int, int], counts: Counter) -> Iterator[tuple]:
        """Actual-next instances go into `batches`; the random-next chunks of every round come out as
        columns (donor ranks, requester rank keys, sizes, seeds, A begins, A ends, B target lengths), with
        `offsets` the document's sentence ends in the range's DocumentRun."""
        sentence_lengths = np.diff(document.offsets).tolist()
        others = layout.num_documents - 1
        for length in self.options.lengths:
            size, base = length.max_seq_length, bases[length.max_seq_length]
            for round_index in range(self.options.dupe_factor):
                round_seed = stable_int(self.options.seed, "plan", document.id, size, round_index)
                plan = np.array(plan_chunks(sentence_lengths, length.max_num_tokens, length.short_seq_prob,
                                            random.Random(round_seed)), dtype=np.int64).reshape(-1, len(Chunk._fields))
                seeds = instance_seeds(round_seed, len(plan))
                a_begin, a_end, b_end = offsets[plan[:, 0]], offsets[plan[:, 1]], offsets[plan[:, 2]]
                actual = plan[:, 3] == 0
                batches[size].add_pairs(seeds[actual], base + a_begin[actual], base + a_end[actual],
                                        base + a_end[actual], base + b_end[actual], False)
                wanted = ~actual
                if others == 0:  # a corpus of one document
                    if wanted.any():
                        counts[f"seq{size}_random_next_without_other_document"] += int(wanted.sum())
                    continue
                donors = (random_words(seeds[wanted], DONOR_RANK, 1)[:, 0] % np.uint64(others)).astype(np.int64)
                count = len(donors)
                yield (donors + (donors >= rank), np.full(count, rank_key), np.full(count, size), seeds[wanted],
                       a_begin[wanted], a_end[wanted], plan[wanted, 4])

    def _requests(self, run: DocumentRun, columns: list[np.ndarray], starts: np.ndarray) -> Iterator[TaggedOutput]:
        """A RequestBatch per donor range, from the columns of _pairs."""
        donor_ranks, requesters, sizes, seeds, a_begin, a_end, targets = columns
        donor_ranges = np.searchsorted(starts, donor_ranks, side="right") - 1
        order = np.argsort(donor_ranges, kind="stable")
        cuts = np.flatnonzero(np.diff(donor_ranges[order])) + 1
        for rows in np.split(order, cuts):
            donor_range = int(donor_ranges[rows[0]])
            lengths = a_end[rows] - a_begin[rows]
            index = span_index(a_begin[rows], lengths)
            batch = RequestBatch(
                donor_ranks[rows] - starts[donor_range], requesters[rows], sizes[rows], seeds[rows],
                run.tokens[index], np.concatenate([[0], np.cumsum(lengths)]),
                None if run.word_starts is None else run.word_starts[index], targets[rows])
            yield TaggedOutput(REQUESTS, (donor_range, self.hand_off(batch)))

    def _packed(self, documents: list[TokenizedDocument], batches: dict[int, InstanceBatch]) -> None:
        """MLM-only: consecutive sentences packed to the full length, across documents of the range."""
        sep = self.special.sep
        for length in self.options.lengths:
            size, room = length.max_seq_length, length.max_num_tokens
            sequences = list(_pack(documents, room, sep))
            for round_index in range(self.options.dupe_factor):
                for index, (first_id, content, content_starts) in enumerate(sequences):
                    round_seed = stable_int(self.options.seed, "packed", first_id, size, round_index)
                    batches[size].add_packed(int(instance_seeds(round_seed, 1, index)[0]), content, content_starts)


def _pack(documents: list[TokenizedDocument], room: int, sep: int) -> Iterator[tuple[str, np.ndarray, np.ndarray | None]]:
    """(first document id, tokens, word starts) of sequences of whole sentences up to `room` tokens.

    A [SEP] separates documents inside a sequence (RoBERTa's FULL-SENTENCES);
    a sentence longer than `room` is cut into pieces of `room` tokens.
    """
    pieces: list[tuple[np.ndarray, np.ndarray | None]] = []
    used, first_id = 0, None
    for document in documents:
        for index in range(document.num_sentences):
            span = slice(document.offsets[index], document.offsets[index + 1])
            sentence = document.tokens[span]
            starts = None if document.word_starts is None else document.word_starts[span]
            for cut in range(0, len(sentence), room):
                piece = sentence[cut:cut + room]
                piece_starts = None if starts is None else starts[cut:cut + room]
                separator = 1 if used and index == 0 and cut == 0 else 0
                if used and used + separator + len(piece) > room:
                    yield _joined(first_id, pieces)
                    pieces, used, separator = [], 0, 0
                if separator:
                    pieces.append((np.array([sep], dtype=np.int32), None if starts is None else np.ones(1, bool)))
                if not used:
                    first_id = document.id
                pieces.append((piece, piece_starts))
                used += separator + len(piece)
    if pieces:
        yield _joined(first_id, pieces)


def _joined(first_id: str, pieces: list[tuple[np.ndarray, np.ndarray | None]]) -> tuple[str, np.ndarray, np.ndarray | None]:
    tokens = np.concatenate([tokens for tokens, _ in pieces])
    starts = None if pieces[0][1] is None else np.concatenate([starts for _, starts in pieces])
    return first_id, tokens, starts


class FulfilRequests(_MakesInstances):
    """A range's documents and the requests addressed to them -> random-next instances."""

    def process(self, element, layout: Layout):
        _, grouped = element
        documents, rank_keys = _ordered(grouped["documents"])
        run = DocumentRun.of(documents)
        batches, counts = self.new_batches(), Counter()
        bases = {size: batch.add_tokens(run.tokens, run.word_starts) for size, batch in batches.items()}
        for requests in load(grouped[REQUESTS]):
            start_words = random_words(requests.seeds, DONOR_START, 1)[:, 0]
            b_begin, b_end = run.donor_spans(requests.donor_positions, requests.target_b_lengths, start_words)
            same = int((rank_keys[requests.donor_positions] == requests.requesters).sum())
            if same:
                counts["random_next_from_same_document"] += same  # impossible by construction; tests watch it
            for size in np.unique(requests.sizes).tolist():
                rows = requests.sizes == size
                a_base = batches[size].add_tokens(requests.a_tokens, requests.a_starts)
                batches[size].add_pairs(requests.seeds[rows], a_base + requests.a_offsets[:-1][rows],
                                        a_base + requests.a_offsets[1:][rows], bases[size] + b_begin[rows],
                                        bases[size] + b_end[rows], True)
        yield from self.emit(batches, layout, counts)


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


def _write_shard(staging: Staging, options: PretrainingOptions, size: int, shard: int, num_shards: int,
                 pieces: list) -> tuple[int, int, int, int]:
    """Writes the shard under its temporary name, then puts it in place: (length, shard, instances, bytes)."""
    relative = options.in_length_dir(size, options.shard_names(size, num_shards)[shard])
    count = write_shard(staging.temporary(relative), pieces, options.compression)
    return size, shard, count, staging.publish(relative)


class WriteShards(beam.DoFn):
    """((length, shard), ShardPieces or SpilledPieces) -> (length, shard, instances, bytes), after writing
    the shard."""

    def __init__(self, staging: Staging, options: PretrainingOptions) -> None:
        self.staging, self.options = staging, options

    def process(self, element, layout: Layout):
        (size, shard), pieces = element
        written = _write_shard(self.staging, self.options, size, shard, layout.shards[size], list(pieces))
        progress.counter("bertprep.pretraining", f"seq{size}_instances_written").inc(written[2])
        yield written


def _sum_counts(dicts: Iterable[dict]) -> dict:
    total: Counter = Counter()
    for counts in dicts:
        total.update(counts)
    return dict(sorted(total.items()))


def write_metadata(written: list[tuple[int, int, int, int]], counts: dict, layout: Layout,
                   options: PretrainingOptions, vocab_size: int, staging: Staging) -> list[str]:
    """Writes missing (empty) shards, then metadata.json per length, the completion record listing every
    shard with its size; returns the metadata paths."""
    paths = []
    for length in options.lengths:
        size = length.max_seq_length
        num_shards = layout.shards[size]
        done = {shard: (count, nbytes) for written_size, shard, count, nbytes in written if written_size == size}
        for shard in sorted(set(range(num_shards)) - set(done)):
            done[shard] = _write_shard(staging, options, size, shard, num_shards, [])[2:]
        names = options.shard_names(size, num_shards)
        own = {name: value for name, value in counts.items() if not name.startswith("seq") or
               name.startswith(f"seq{size}_")}
        metadata = DatasetMetadata(
            max_seq_length=size, max_predictions_per_seq=length.max_predictions_per_seq,
            masked_lm_prob=length.masked_lm_prob, short_seq_prob=length.short_seq_prob,
            dupe_factor=options.dupe_factor, whole_word_mask=length.whole_word_mask,
            do_lower_case=options.do_lower_case, seed=options.seed, nsp=length.nsp,
            compression=options.compression, vocab_file=options.vocab_file, vocab_sha256=options.vocab_sha256,
            vocab_size=vocab_size, num_instances=sum(count for count, _ in done.values()), num_shards=num_shards,
            files=names, counters=own, input_stats=options.input_stats,
            file_bytes={name: done[shard][1] for shard, name in enumerate(names)}, run=options.length_run(length),
        )
        relative = options.in_length_dir(size, METADATA_FILE)
        staging.write(relative, metadata.to_json().encode("utf-8"))
        paths.append(f"{staging.output}/{relative}")
    return paths


# ---------------------------------------------------------------------------
# The pipeline
# ---------------------------------------------------------------------------


def build_pipeline(pipeline: beam.Pipeline, options: PretrainingOptions, tokenizer: FullTokenizer,
                   parquet_files: list[str], text_files: list[str], staging: Staging):
    """Adds the stage to `pipeline`, writing through `staging` (its output is options.output); returns the
    PCollection of metadata.json paths."""
    special = SpecialIds.from_vocab(tokenizer.vocab)
    tokenized = (
        pipeline
        | "Read" >> ReadPretrainingDocuments(parquet_files, text_files)
        | "SpreadDocuments" >> Spread(options.handoff, options.handoff_folder)
        | "Tokenize" >> beam.ParDo(TokenizeDocuments(options, tokenizer)).with_outputs(COUNTS, main="docs")
    )
    documents = tokenized.docs
    layout = AsSingleton(
        documents
        | "DocumentsAndTokens" >> beam.Map(lambda ref: (1, ref.num_tokens))
        | "SumTotals" >> beam.CombineGlobally(lambda pairs: tuple(map(sum, zip(*pairs))) or (0, 0))
        | "Layout" >> beam.Map(make_layout, options)
    )
    keyed = documents | "KeyByRange" >> beam.Map(_key_by_range, layout, options.seed)
    starts = AsSingleton(
        keyed
        | "OnePerDocument" >> beam.Map(lambda kv: (kv[0], 1))
        | "CountPerRange" >> beam.CombinePerKey(sum)
        | "AllRanges" >> beam.combiners.ToList()
        | "RangeStarts" >> beam.Map(range_starts, layout)
    )
    made = (
        keyed
        | "GroupRanges" >> beam.GroupByKey()
        | "CreateInstances" >> beam.ParDo(CreateInstances(options, special), layout, starts)
        .with_outputs(COUNTS, REQUESTS, main="instances")
    )
    finished = (
        {"documents": keyed, REQUESTS: made[REQUESTS]}
        | "MeetDonors" >> beam.CoGroupByKey()
        | "FulfilRequests" >> beam.ParDo(FulfilRequests(options, special), layout).with_outputs(COUNTS, main="instances")
    )
    counts = AsSingleton(
        (tokenized[COUNTS], made[COUNTS], finished[COUNTS])
        | "AllCounts" >> beam.Flatten()
        | "SumCounts" >> beam.CombineGlobally(_sum_counts)
    )
    written = (
        (made.instances, finished.instances)
        | "AllInstances" >> beam.Flatten()
        | "GroupShards" >> beam.GroupByKey()
        | "WriteShards" >> beam.ParDo(WriteShards(staging, options), layout)
    )
    vocab_size = len(tokenizer.vocab)
    return (
        written
        | "AllShards" >> beam.combiners.ToList()
        | "WriteMetadata" >> beam.FlatMap(
            lambda shards, counts, layout: write_metadata(shards, counts, layout, options, vocab_size, staging),
            counts, layout)
    )
