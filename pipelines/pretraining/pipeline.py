"""`bertprep pretraining-data` as a Beam pipeline: documents -> sharded masked-LM/NSP TFRecords.

Read | Tokenize | Rank | MakeInstances | WriteDatasets, each a composite of
a few steps; the algorithm of every step is plain functions beside this
module (layout, pairing, packing, instance_batch, datasets).

How a random next segment comes from the whole corpus without any worker
holding the corpus:

1. Each document is tokenized once (for every sequence length) and gets a
   64-bit rank key from (seed, document id).
2. The documents and their tokens are counted in 2^16 buckets of the rank-key
   space, and runs of buckets make the ranges: at most `tokens_per_range`
   tokens and `docs_per_range` documents each. The counts give every
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

Memory per worker is a range group (at most `tokens_per_range` tokens of
documents, or one longer document, and the requests to them) or one shard
being written, whatever the corpus size. How documents,
requests and instances travel through the shuffles (as Beam elements, or as
files) is pipelines.handoff's.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import apache_beam as beam
import numpy as np
from apache_beam.pvalue import AsSingleton, TaggedOutput

from pipelines import progress
from pipelines.output_folder import Staging
from pipelines.pretraining.datasets import publish_shard, sum_counts, write_metadata
from pipelines.handoff import Spilled, SpoolingDoFn, Spread, load
from pipelines.pretraining.inputs import DOCUMENT_COLUMNS, bert_text_documents, text_document_prefixes
from pipelines.pretraining.instance_batch import InstanceBatch, new_batches
from pipelines.pretraining.instances import SpecialIds, TokenizedDocument
from pipelines.pretraining.layout import Layout, bucket_of, count_in_bucket, make_layout, rank_key, rank_order
from pipelines.pretraining.options import PretrainingDataOptions
from pipelines.pretraining.packing import pack_range
from pipelines.pretraining.pairing import fulfil_requests, pair_range
from pipelines.pretraining.shard_writer import shard_piece
from pipelines.pretraining.tokens import DocumentTokenizer
from vocab.tokenization import FullTokenizer

COUNTS = "counts"
REQUESTS = "requests"


class DocumentRef(NamedTuple):
    """What the layout and the grouping by range need of a tokenized document, and the document (or
    where it was handed off)."""

    id: str
    num_tokens: int
    document: TokenizedDocument | Spilled


class _Stage(SpoolingDoFn):
    """Counts go to Beam metrics (the Dataflow UI) and to a COUNTS output (metadata.json); outputs bound
    for a large shuffle go through hand_off."""

    def __init__(self, options: PretrainingDataOptions) -> None:
        super().__init__(options.handoff, options.handoff_folder)
        self.options = options

    def count(self, counts: Counter) -> Iterator[TaggedOutput]:
        for name, value in counts.items():
            progress.counter("bertprep.pretraining", name).inc(value)
        yield TaggedOutput(COUNTS, dict(counts))


# ---------------------------------------------------------------------------
# Read
# ---------------------------------------------------------------------------


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
            parts.append(
                pipeline
                | "TextFiles" >> beam.Create(text_document_prefixes(self.text_files))
                | "ReadBertText" >> beam.FlatMapTuple(bert_text_documents)
            )
        if len(parts) == 1:
            return parts[0]
        return tuple(parts) | "AllDocuments" >> beam.Flatten(pipeline=pipeline.pipeline)


# ---------------------------------------------------------------------------
# Tokenize
# ---------------------------------------------------------------------------


class TokenizeDocuments(_Stage):
    def __init__(self, options: PretrainingDataOptions, tokenizer: FullTokenizer) -> None:
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


class Tokenize(beam.PTransform):
    """(document id, sentences) -> (DocumentRefs, counts), the documents spread over the workers first."""

    def __init__(self, options: PretrainingDataOptions, tokenizer: FullTokenizer) -> None:
        super().__init__()
        self.options, self.tokenizer = options, tokenizer

    def expand(self, documents):
        if self.options.spread:
            documents = documents | "SpreadDocuments" >> Spread(self.options.handoff, self.options.handoff_folder)
        tokenized = documents | "TokenizeDocuments" >> beam.ParDo(
            TokenizeDocuments(self.options, self.tokenizer)).with_outputs(COUNTS, main="docs")
        return tokenized.docs, tokenized[COUNTS]


# ---------------------------------------------------------------------------
# Rank
# ---------------------------------------------------------------------------


def _with_rank_key(ref: DocumentRef, seed: int) -> tuple[int, DocumentRef]:
    return rank_key(seed, ref.id), ref


def _key_by_range(ranked: tuple[int, DocumentRef], layout: Layout) -> tuple[int, tuple[int, DocumentRef]]:
    return layout.range_of(ranked[0]), ranked


class _BucketTotals(beam.CombineFn):
    """(rank key, DocumentRef) pairs -> {bucket of rank keys: (documents, tokens)} of every bucket holding any."""

    def create_accumulator(self) -> dict[int, tuple[int, int]]:
        return {}

    def add_input(self, totals: dict[int, tuple[int, int]], ranked: tuple[int, DocumentRef]
                  ) -> dict[int, tuple[int, int]]:
        key, ref = ranked
        count_in_bucket(totals, bucket_of(key), 1, ref.num_tokens)
        return totals

    def merge_accumulators(self, accumulators: Iterable[dict[int, tuple[int, int]]]) -> dict[int, tuple[int, int]]:
        merged: dict[int, tuple[int, int]] = {}
        for totals in accumulators:
            for bucket, (documents, tokens) in totals.items():
                count_in_bucket(merged, bucket, documents, tokens)
        return merged

    def extract_output(self, totals: dict[int, tuple[int, int]]) -> dict[int, tuple[int, int]]:
        return totals


class Rank(beam.PTransform):
    """DocumentRefs -> (range -> (rank key, DocumentRef), the Layout as a singleton view): the corpus-wide
    rank order, cut into ranges by the documents' sizes.

    The global combine runs without Beam's default-injecting stages (a Create and a side input): an empty
    corpus gets the empty layout from the view's default.
    """

    def __init__(self, options: PretrainingDataOptions) -> None:
        super().__init__()
        self.options = options

    def expand(self, documents):
        ranked = documents | "RankKeys" >> beam.Map(_with_rank_key, self.options.seed)
        layout = AsSingleton(
            ranked
            | "CountBuckets" >> beam.CombineGlobally(_BucketTotals()).without_defaults()
            | "Layout" >> beam.Map(make_layout, self.options),
            default_value=make_layout({}, self.options))
        keyed = ranked | "KeyByRange" >> beam.Map(_key_by_range, layout)
        return keyed, layout


# ---------------------------------------------------------------------------
# MakeInstances
# ---------------------------------------------------------------------------


def _ordered(refs: Iterable[tuple[int, DocumentRef]]) -> tuple[list[TokenizedDocument], np.ndarray]:
    """A range's documents in rank order, read back where they were handed off, and their rank keys."""
    refs = list(refs)
    return rank_order(zip((key for key, _ in refs), load(ref.document for _, ref in refs)))


class _MakesInstances(_Stage):
    def __init__(self, options: PretrainingDataOptions, special: SpecialIds) -> None:
        super().__init__(options)
        self.special = special

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
    """A range group of documents -> actual-next instances and requests for random-next ones (or, without
    next-sentence pairs, packed sequences)."""

    def process(self, element, layout: Layout):
        range_index, keyed_documents = element
        documents, rank_keys = _ordered(keyed_documents)
        batches, counts = new_batches(self.options.lengths, self.special), Counter()
        if self.options.nsp:
            for donor_range, requests in pair_range(documents, rank_keys, range_index, layout.starts,
                                                    layout.num_documents, self.options, batches, counts):
                yield TaggedOutput(REQUESTS, (donor_range, self.hand_off(requests)))
        else:
            pack_range(documents, self.options, self.special.sep, batches)
        yield from self.emit(batches, layout, counts)


class FulfilRequests(_MakesInstances):
    """A range's documents and the requests addressed to them -> random-next instances."""

    def process(self, element, layout: Layout):
        _, grouped = element
        documents, rank_keys = _ordered(grouped["documents"])
        batches, counts = new_batches(self.options.lengths, self.special), Counter()
        fulfil_requests(documents, rank_keys, load(grouped[REQUESTS]), batches, counts)
        yield from self.emit(batches, layout, counts)


class MakeInstances(beam.PTransform):
    """range -> (rank key, DocumentRef) -> (((length, shard), instances), counts): pairs made where the
    documents are, random-next requests sent to their donors' ranges and finished there."""

    def __init__(self, options: PretrainingDataOptions, special: SpecialIds, layout: AsSingleton) -> None:
        super().__init__()
        self.options, self.special, self.layout = options, special, layout

    def expand(self, keyed):
        made = (
            keyed
            | "GroupRanges" >> beam.GroupByKey()
            | "CreateInstances" >> beam.ParDo(CreateInstances(self.options, self.special), self.layout)
            .with_outputs(COUNTS, REQUESTS, main="instances")
        )
        finished = (
            {"documents": keyed, REQUESTS: made[REQUESTS]}
            | "MeetDonors" >> beam.CoGroupByKey()
            | "FulfilRequests" >> beam.ParDo(FulfilRequests(self.options, self.special), self.layout)
            .with_outputs(COUNTS, main="instances")
        )
        instances = (made.instances, finished.instances) | "AllInstances" >> beam.Flatten()
        counts = (made[COUNTS], finished[COUNTS]) | "AllCounts" >> beam.Flatten()
        return instances, counts


# ---------------------------------------------------------------------------
# WriteDatasets
# ---------------------------------------------------------------------------


class WriteShards(beam.DoFn):
    """((length, shard), ShardPieces or SpilledPieces) -> (length, shard, instances, bytes), after writing
    the shard."""

    def __init__(self, staging: Staging, options: PretrainingDataOptions) -> None:
        self.staging, self.options = staging, options

    def process(self, element, layout: Layout):
        (size, shard), pieces = element
        written = publish_shard(self.staging, self.options, size, shard, layout.shards[size], list(pieces))
        progress.counter("bertprep.pretraining", f"seq{size}_instances_written").inc(written[2])
        yield written


class WriteDatasets(beam.PTransform):
    """(instances, counts of every step) -> the paths of every length's metadata.json, written after its
    shards."""

    def __init__(self, options: PretrainingDataOptions, staging: Staging, vocab_size: int,
                 layout: AsSingleton) -> None:
        super().__init__()
        self.options, self.staging, self.vocab_size, self.layout = options, staging, vocab_size, layout

    def expand(self, inputs):
        instances, *step_counts = inputs
        options, staging, vocab_size = self.options, self.staging, self.vocab_size
        counts = AsSingleton(  # {} for a run that read no document
            tuple(step_counts)
            | "AllCounts" >> beam.Flatten()
            | "SumCounts" >> beam.CombineGlobally(sum_counts).without_defaults(),
            default_value={})
        return (
            instances
            | "GroupShards" >> beam.GroupByKey()
            | "WriteShards" >> beam.ParDo(WriteShards(staging, options), self.layout)
            | "AllShards" >> beam.combiners.ToList()
            | "WriteMetadata" >> beam.FlatMap(
                lambda shards, counts, layout: write_metadata(shards, counts, layout, options, vocab_size, staging),
                counts, self.layout)
        )


# ---------------------------------------------------------------------------
# The pipeline
# ---------------------------------------------------------------------------


def build_pipeline(pipeline: beam.Pipeline, options: PretrainingDataOptions, tokenizer: FullTokenizer,
                   parquet_files: list[str], text_files: list[str], staging: Staging):
    """Adds the stage to `pipeline`, writing through `staging` (its output is options.output); returns the
    PCollection of metadata.json paths."""
    documents, tokenize_counts = (
        pipeline
        | "Read" >> ReadPretrainingDocuments(parquet_files, text_files)
        | "Tokenize" >> Tokenize(options, tokenizer)
    )
    keyed, layout = documents | "Rank" >> Rank(options)
    instances, instance_counts = keyed | "MakeInstances" >> MakeInstances(
        options, SpecialIds.from_vocab(tokenizer.vocab), layout)
    return (instances, tokenize_counts, instance_counts) | "WriteDatasets" >> WriteDatasets(
        options, staging, len(tokenizer.vocab), layout)
