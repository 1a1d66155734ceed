"""The corpus stage as a Beam pipeline: read -> clean -> filter -> dedup -> segment -> write.

Every step routes what it drops to an `outcomes` output and what is broken to
an `errors` output; `WriteStats` sums the outcomes into stats.json, so
`read == kept + sum(dropped) + errors` holds by construction.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterable, Iterator

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from formats.corpus_files import ERROR_FILES
from pipelines import progress
from pipelines.corpus import dedup, document_writer, stats
from pipelines.corpus.documents import (
    DROPPED,
    ERROR,
    KEPT,
    REPAIRED,
    Document,
    ErrorRecord,
    NORMALIZED,
    HandedDocument,
    MalformedInput,
    Outcome,
)
from pipelines.corpus.filters import QualityThresholds, sentences_drop_reason, text_drop_reason
from pipelines.corpus.inputs import InputFile
from pipelines.corpus.normalization import normalize_text
from pipelines.corpus.segmentation import SentenceSegmenter
from pipelines.corpus.sources import ReadOptions, plan_dump_ranges, read_dump_range, read_file
from pipelines.corpus.wikitext.cleaners import DEFAULT_CLEANER, make_cleaner
from pipelines.handoff import Spilled, SpoolingDoFn, Spread, load
from pipelines.output_folder import Staging

OUTCOMES = "outcomes"
ERRORS = "errors"
DUPLICATE = "duplicate"
NEAR_DUPLICATE = "near_duplicate"
READ = "read"  # counter: records the readers yielded (= stats.json's read)
INPUT_BYTES = "input_bytes"  # counter: input bytes read, counted per file or dump range when read


@dataclasses.dataclass(frozen=True)
class CorpusOptions:
    output: str
    read: ReadOptions = ReadOptions()
    wiki_cleaner: str = DEFAULT_CLEANER
    thresholds: QualityThresholds = QualityThresholds()
    dedup: bool = True
    near_dedup: bool = False
    near_dedup_threshold: float = 0.8
    spacy_model: str | None = None
    num_shards: int = 1
    text_output: bool = False
    # How pages and documents cross the shuffles (pipelines.handoff): "files" keeps the DirectRunner's memory
    # flat, with the spool files in `handoff_folder`.
    handoff: str = "shuffle"
    handoff_folder: str = ""
    # Reshuffles after the fan-outs spread the work over workers; with one worker they only cost.
    spread: bool = True


def _count(status: str, reason: str, value: int = 1) -> None:
    progress.counter("bertprep.corpus", f"{status}_{reason}" if reason else status).inc(value)


def _counted_reads(records: Iterable[Document | Outcome | ErrorRecord]) -> Iterator:
    """The records of a reader, counted as `read` one by one (a live count for the progress lines); a repair
    inside a record is not a record."""
    for record in records:
        if not (isinstance(record, Outcome) and record.status == REPAIRED):
            _count(READ, "")
        yield record


def _route(records: Iterable[Document | Outcome | ErrorRecord]) -> Iterator:
    """Sends documents on, outcomes and errors to their outputs, counting each."""
    for record in records:
        if isinstance(record, Document):
            yield record
        elif isinstance(record, Outcome):
            _count(record.status, record.reason, record.count)
            yield beam.pvalue.TaggedOutput(OUTCOMES, record)
        else:
            _count(ERROR, record.reason)
            yield beam.pvalue.TaggedOutput(ERRORS, record)
            yield beam.pvalue.TaggedOutput(OUTCOMES, Outcome(record.input, ERROR, record.reason))


class _PlanReads(beam.DoFn):
    """Files pass through; indexed multistream dumps fan out into byte ranges."""

    def __init__(self, options: ReadOptions) -> None:
        self._options = options

    def process(self, item: InputFile):
        if item.index_path:
            try:
                ranges = list(plan_dump_ranges(item, self._options))
            except (MalformedInput, OSError, EOFError, ValueError) as error:
                # A broken index still leaves the dump readable as one stream.
                logging.warning("%s: unusable index %s (%s); reading the dump whole", item.path, item.index_path, error)
                _count(ERROR, "bad_index")
            else:
                # The header stream before the first range was read here; each range counts its own bytes.
                _count(INPUT_BYTES, "", ranges[0][2].stream_offsets[0])
                yield from ranges
                return
        yield item, None, None


class _ReadRecords(beam.DoFn):
    def __init__(self, options: ReadOptions) -> None:
        self._options = options

    def process(self, task):
        item, siteinfo, stream_range = task
        if stream_range is None:
            records, size = read_file(item, self._options), item.size
        else:
            records = read_dump_range(item, siteinfo, stream_range, self._options)
            size = stream_range.end - stream_range.stream_offsets[0]
        yield from _route(_counted_reads(records))
        _count(INPUT_BYTES, "", size)


class _CleanAndFilter(beam.DoFn):
    """Wikitext -> prose, Unicode/whitespace normalization, quality filters."""

    def __init__(self, cleaner: str, thresholds: QualityThresholds) -> None:
        self._cleaner_name = cleaner
        self._thresholds = thresholds

    def setup(self) -> None:
        self._cleaner = make_cleaner(self._cleaner_name)

    def process(self, doc: Document):
        yield from _route([self._clean(doc)])

    def _clean(self, doc: Document) -> Document | Outcome | ErrorRecord:
        text = doc.text
        if doc.markup == "wikitext":
            try:
                text = self._cleaner.clean(text, doc.title, doc.language)
            except Exception as error:  # a cleaner bug must cost one page, not the job
                return ErrorRecord(doc.input, doc.source, "cleaning_failed", f"{type(error).__name__}: {error}", doc.id)
        if doc.markup != NORMALIZED:
            text = normalize_text(text)
        reason = text_drop_reason(text, self._thresholds)
        if reason:
            return Outcome(doc.input, DROPPED, reason)
        return dataclasses.replace(doc, text=text, markup="plain")


class _KeepSmallestId(beam.CombineFn):
    """Keeps the smallest-id document of a duplicate group; counts the rest per input.

    The accumulator is one document and a small map, so a group of any size
    combines in bounded memory (and combiner lifting works on Dataflow).
    """

    def create_accumulator(self):
        return None, {}

    def add_input(self, accumulator, doc: Document):
        best, counts = accumulator
        counts[doc.input] = counts.get(doc.input, 0) + 1
        return (doc if best is None or doc.id < best.id else best), counts

    def merge_accumulators(self, accumulators):
        best, counts = None, {}
        for other, other_counts in accumulators:
            if other is not None and (best is None or other.id < best.id):
                best = other
            for key, value in other_counts.items():
                counts[key] = counts.get(key, 0) + value
        return best, counts

    def extract_output(self, accumulator):
        return accumulator


def _emit_group(group) -> Iterator:
    _, (best, counts) = group
    counts = dict(counts)
    counts[best.input] -= 1
    yield best.document
    yield from _route(Outcome(key, DROPPED, DUPLICATE, count=n) for key, n in sorted(counts.items()) if n)


class _KeyByContent(SpoolingDoFn):
    """(content key, the document handed off): only the kept one of a group is read back."""

    def process(self, doc: Document):
        yield dedup.content_key(doc.text), HandedDocument(doc.id, doc.input, self.hand_off(doc))


class DeduplicateExact(beam.PTransform):
    """Documents -> one of each text (Documents, or Spilled ones with the files handoff)."""

    def __init__(self, handoff: str = "shuffle", folder: str = "") -> None:
        super().__init__()
        self._handoff, self._folder = handoff, folder

    def expand(self, docs):
        return (
            docs
            | "KeyByContent" >> beam.ParDo(_KeyByContent(self._handoff, self._folder))
            | "KeepSmallestId" >> beam.CombinePerKey(_KeepSmallestId())
            | "EmitKept" >> beam.FlatMap(_emit_group).with_outputs(OUTCOMES, main="docs")
        )


class DeduplicateNear(beam.PTransform):
    """MinHash-LSH: candidates share a band; see `pipelines.corpus.dedup`."""

    def __init__(self, threshold: float) -> None:
        super().__init__()
        self._threshold = threshold
        self._bands, self._rows = dedup.lsh_parameters(threshold)

    def expand(self, docs):
        bands, rows, threshold = self._bands, self._rows, self._threshold

        def band_entries(doc: Document):
            signature = dedup.minhash_signature(doc.text)
            for key in dedup.band_keys(signature, bands, rows):
                yield key, (doc.id, signature)

        duplicate_ids = (
            docs
            | "Signatures" >> beam.FlatMap(band_entries)
            | "GroupBands" >> beam.GroupByKey()
            | "CompareInBucket" >> beam.FlatMap(lambda kv: dedup.near_duplicates_in_bucket(list(kv[1]), threshold))
            | "MarkDuplicate" >> beam.Map(lambda doc_id: (doc_id, True))
        )
        keyed_docs = docs | "KeyById" >> beam.Map(lambda doc: (doc.id, doc))

        def keep_or_drop(joined):
            _, grouped = joined
            for doc in grouped["doc"]:
                if grouped["duplicate"]:
                    yield from _route([Outcome(doc.input, DROPPED, NEAR_DUPLICATE)])
                else:
                    yield doc

        return (
            {"doc": keyed_docs, "duplicate": duplicate_ids}
            | "JoinMarks" >> beam.CoGroupByKey()
            | "DropMarked" >> beam.FlatMap(keep_or_drop).with_outputs(OUTCOMES, main="docs")
        )


class _Segment(SpoolingDoFn):
    """Sentences with spaCy (one pipeline per language, loaded once per worker); documents arrive and leave
    handed off as the shuffles around it travel."""

    def __init__(self, model: str | None, thresholds: QualityThresholds, handoff: str = "shuffle",
                 folder: str = "") -> None:
        super().__init__(handoff, folder)
        self._model = model
        self._thresholds = thresholds

    def setup(self) -> None:
        self._segmenter = SentenceSegmenter(self._model)

    def process(self, item: Document | Spilled):
        doc = self.fetch(item)
        sentences = self._segmenter.segment(doc.language, doc.text)
        reason = sentences_drop_reason(sentences, self._thresholds)
        if reason:
            yield from _route([Outcome(doc.input, DROPPED, reason)])
            return
        characters = sum(map(len, sentences))
        yield from _route([Outcome(doc.input, KEPT, sentences=len(sentences), characters=characters)])
        segmented = dataclasses.replace(doc, text="", sentences=tuple(sentences))
        yield HandedDocument(doc.id, doc.input, self.hand_off(segmented))


def _spread_if(spread: bool, transform: beam.PTransform) -> beam.PTransform:
    """`transform` (a Reshuffle or Spread), or a pass-through where the work is not spread."""
    return transform if spread else beam.Map(lambda value: value)


def _loaded(item: Document | Spilled) -> Document:
    return load([item])[0]


class _Ledger:
    """Collects the outcomes and errors outputs of each step, for one Flatten at the end."""

    def __init__(self) -> None:
        self.outcomes: list = []
        self.errors: list = []

    def take(self, result, has_errors: bool = False):
        self.outcomes.append(result[OUTCOMES])
        if has_errors:
            self.errors.append(result[ERRORS])
        return result["docs"]

    def flatten(self, label: str):
        return (
            self.outcomes | f"{label}Outcomes" >> beam.Flatten(),
            self.errors | f"{label}Errors" >> beam.Flatten(),
        )


class ReadDocuments(beam.PTransform):
    """Input files -> cleaned, filtered documents (shared by the corpus and vocab stages).

    Returns (documents, outcomes, errors).
    """

    def __init__(self, files: list[InputFile], read: ReadOptions, wiki_cleaner: str, thresholds: QualityThresholds,
                 handoff: str = "shuffle", handoff_folder: str = "", spread: bool = True) -> None:
        super().__init__()
        self._files = files
        self._read = read
        self._wiki_cleaner = wiki_cleaner
        self._thresholds = thresholds
        self._handoff, self._handoff_folder = handoff, handoff_folder
        self._spread = spread

    def expand(self, pipeline):
        ledger = _Ledger()
        read = (
            pipeline
            | "ListFiles" >> beam.Create(self._files)
            | "SpreadFiles" >> _spread_if(self._spread, beam.Reshuffle())
            | "PlanReads" >> beam.ParDo(_PlanReads(self._read))
            | "SpreadRanges" >> _spread_if(self._spread, beam.Reshuffle())
            | "Read" >> beam.ParDo(_ReadRecords(self._read)).with_outputs(OUTCOMES, ERRORS, main="docs")
        )
        spread_pages = _spread_if(self._spread, Spread(self._handoff, self._handoff_folder))
        docs = ledger.take(read, has_errors=True) | "SpreadPages" >> spread_pages
        cleaned = docs | "Clean" >> beam.ParDo(
            _CleanAndFilter(self._wiki_cleaner, self._thresholds)
        ).with_outputs(OUTCOMES, ERRORS, main="docs")
        docs = ledger.take(cleaned, has_errors=True)
        return (docs, *ledger.flatten("Read"))


class BuildCorpus(beam.PTransform):
    """Input files -> (documents, outcomes, errors)."""

    def __init__(self, files: list[InputFile], options: CorpusOptions) -> None:
        super().__init__()
        self._files = files
        self._options = options

    def expand(self, pipeline):
        options = self._options
        ledger = _Ledger()
        handoff, folder = options.handoff, options.handoff_folder
        docs, read_outcomes, read_errors = pipeline | "ReadDocuments" >> ReadDocuments(
            self._files, options.read, options.wiki_cleaner, options.thresholds, handoff, folder, options.spread
        )
        ledger.outcomes.append(read_outcomes)
        ledger.errors.append(read_errors)
        if options.dedup:
            docs = ledger.take(docs | "ExactDedup" >> DeduplicateExact(handoff, folder))
        if options.near_dedup:
            # MinHash compares texts, so the kept documents are read back here (memory then grows with the
            # corpus on the DirectRunner, as near-duplicate detection's buckets do anyway).
            docs = docs | "LoadKept" >> beam.Map(_loaded)
            docs = ledger.take(docs | "NearDedup" >> DeduplicateNear(options.near_dedup_threshold))
        segmented = (
            docs
            | "SpreadDocuments" >> _spread_if(options.spread, Spread(handoff, folder))
            | "Segment" >> beam.ParDo(_Segment(options.spacy_model, options.thresholds, handoff, folder)
                                      ).with_outputs(OUTCOMES, main="docs")
        )
        docs = ledger.take(segmented)
        return (docs, *ledger.flatten("All"))


def _publish(path: str, staging: Staging) -> tuple[str, int]:
    """A file a Beam sink wrote at the top of the work folder, renamed into place: (its name, bytes)."""
    name = FileSystems.split(path)[1]
    return name, staging.publish(name)


def build_pipeline(pipeline: beam.Pipeline, files: list[InputFile], options: CorpusOptions, parameters: dict,
                   staging: Staging, run: dict) -> None:
    """Adds the stage, writing through `staging` (its output is options.output); stats.json, listing every
    file, comes last. `run` identifies the run in stats.json (pipelines.output_folder.run_identity)."""
    docs, outcomes, errors = pipeline | "Corpus" >> BuildCorpus(files, options)
    documents = docs | "WriteDocuments" >> document_writer.WriteDocuments(
        staging, options.num_shards, options.text_output
    )
    error_files = (
        errors
        | "ErrorsToJson" >> beam.Map(lambda e: json.dumps(dataclasses.asdict(e), ensure_ascii=False, sort_keys=True))
        | "WriteErrors" >> beam.io.WriteToText(
            staging.temporary(ERROR_FILES.stem), file_name_suffix=ERROR_FILES.suffix, num_shards=1)
        | "PublishErrors" >> beam.Map(_publish, staging)
    )
    _ = outcomes | "WriteStats" >> stats.WriteStats(
        staging, [f.input for f in files], parameters, run, [documents, error_files])
