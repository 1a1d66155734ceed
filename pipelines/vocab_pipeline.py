"""The vocab stage as a Beam pipeline: count words (or sample lines) everywhere, learn on one worker.

Counting is distributed: each worker basic-tokenizes documents (the
reference BERT basic tokenization) into a bounded word-count table, the tables
are summed per bucket of words, rare words are pruned and only the `max_words`
most frequent reach the single learning step, so memory is bounded whatever
the corpus size. A deterministic share of documents (by id) is held out to
measure the learned vocabulary.
"""
from __future__ import annotations

import collections
import dataclasses
import hashlib
import heapq
import json
import os
import tempfile
import time
import zlib
from collections.abc import Iterable, Iterator

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.transforms.window import GlobalWindows

from pipelines import progress
from pipelines.corpus.documents import Document
from pipelines.corpus.filters import QualityThresholds
from pipelines.corpus.inputs import InputFile
from pipelines.corpus.pipeline import ReadDocuments
from pipelines.corpus.sources import ReadOptions
from pipelines.corpus.wikitext.cleaners import DEFAULT_CLEANER
from pipelines.handoff import Spilled, SpoolingDoFn
from pipelines.output_folder import Staging, created, record_fields

METHODS = ("wordpiece", "sentencepiece")
VOCAB_FILE = "vocab.txt"
STATS_FILE = "vocab_stats.json"  # the stage's completion record
METRICS_NAMESPACE = "bertprep.vocab"
COUNT_BUCKETS = 64  # word-count tables are cut by word hash into this many, each summed on its own
FLUSH_WORDS = 100_000  # distinct words a counting worker holds before handing its table over


@dataclasses.dataclass(frozen=True)
class VocabOptions:
    output: str
    vocab_size: int
    read: ReadOptions = ReadOptions()
    method: str = "wordpiece"
    do_lower_case: bool = True
    num_unused: int = 99
    min_word_count: int = 2  # words seen fewer times are pruned before learning
    max_words: int = 2_000_000  # at most this many distinct words reach the learner
    min_char_count: int = 1  # characters seen this often are always in the vocab
    sentencepiece_model_type: str = "unigram"
    sample_lines: int = 1_000_000  # sentencepiece training sample
    holdout_percent: float = 2.0
    seed: int = 12345
    wiki_cleaner: str = DEFAULT_CLEANER
    # Vocab learning wants every document, however short: filters off.
    thresholds: QualityThresholds = QualityThresholds(
        min_words=1, min_sentences=1, max_non_letter_ratio=1.0, min_mean_word_length=0.0, max_mean_word_length=1000.0
    )
    handoff: str = "shuffle"  # how documents cross the shuffle after reading (pipelines.handoff)
    handoff_folder: str = ""
    spread: bool = True  # Reshuffles after the fan-outs (not worth it with one worker)


def stable_fraction(seed: int, *key: object) -> float:
    """A number in [0, 1) fixed by the seed and the key, equal on every worker."""
    digest = hashlib.sha1(repr((seed, *key)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def document_lines(doc: Document) -> list[str]:
    """Paragraphs (sentences, for the corpus stage's output) of a document."""
    return [line for line in doc.text.split("\n\n") if line.strip()]


class _CountWords(SpoolingDoFn):
    """Documents -> (bucket, the bucket's share of a word-count table): a worker counts into one table per
    bundle and hands it over, cut into COUNT_BUCKETS by a hash of the word, whenever it holds FLUSH_WORDS
    distinct words and at the end of the bundle; so a worker holds a bounded table, and with the "files" handoff
    only a reference per bucket and table crosses the shuffle (Beam's combiner lifting for CombinePerKey keeps up
    to 1,000,000 words per table, and the DirectRunner then holds every flushed partial count)."""

    def __init__(self, do_lower_case: bool, counted: str, handoff: str, folder: str) -> None:
        super().__init__(handoff, folder)
        self._do_lower_case = do_lower_case
        self._counted = counted

    def setup(self) -> None:
        from vocab.tokenization import WORKER_CACHE_SIZE, BasicTokenizer

        self._tokenizer = BasicTokenizer(do_lower_case=self._do_lower_case, cache_size=WORKER_CACHE_SIZE)
        # Beam metrics: the Dataflow UI shows them while the job runs.
        self._documents = progress.counter(METRICS_NAMESPACE, f"{self._counted}_documents")
        self._words = progress.counter(METRICS_NAMESPACE, f"{self._counted}_words")

    def start_bundle(self) -> None:
        super().start_bundle()
        self._counts: collections.Counter[str] = collections.Counter()

    def process(self, doc: Document):
        words = 0
        for line in document_lines(doc):
            tokens = self._tokenizer.tokenize(line)
            self._counts.update(tokens)
            words += len(tokens)
        self._documents.inc()
        self._words.inc(words)
        if len(self._counts) >= FLUSH_WORDS:
            yield from self._flush()

    def finish_bundle(self):
        for bucket_table in self._flush():
            yield GlobalWindows.windowed_value(bucket_table)
        super().finish_bundle()

    def _flush(self) -> Iterator[tuple[int, list[tuple[str, int]] | Spilled]]:
        buckets: dict[int, list[tuple[str, int]]] = collections.defaultdict(list)
        for pair in self._counts.items():
            buckets[word_bucket(pair[0])].append(pair)
        self._counts = collections.Counter()
        for bucket, pairs in buckets.items():
            yield bucket, self.hand_off(pairs)


def word_bucket(word: str) -> int:
    """The count bucket of a word, the same in every process (str hashes are salted per process)."""
    return zlib.crc32(word.encode("utf-8")) % COUNT_BUCKETS


class _SumBucket(SpoolingDoFn):
    """(bucket, its tables) -> the bucket's (word, count) pairs of at least `min_count`."""

    def __init__(self, min_count: int, handoff: str, folder: str) -> None:
        super().__init__(handoff, folder)
        self._min_count = min_count

    def process(self, element):
        _, tables = element
        counts: collections.Counter[str] = collections.Counter()
        for table in tables:
            for word, count in self.fetch(table):
                counts[word] += count
        min_count = self._min_count
        yield from (pair for pair in counts.items() if pair[1] >= min_count)


class MostFrequent(beam.CombineFn):
    """(word, count) pairs -> the `size` most frequent, by (count, word) descending: beam.combiners.Top.Of's
    answer, holding plain (count, word) tuples (Top wraps every element for its heap: ~5x the memory, and the
    learner's input is the largest thing the stage holds). An accumulator is cut back to `size` whenever it
    reaches twice that."""

    def __init__(self, size: int) -> None:
        self._size = size

    def create_accumulator(self) -> list[tuple[int, str]]:
        return []

    def add_input(self, kept: list[tuple[int, str]], pair: tuple[str, int]) -> list[tuple[int, str]]:
        kept.append((pair[1], pair[0]))
        return self._bounded(kept)

    def merge_accumulators(self, accumulators: Iterable[list[tuple[int, str]]]) -> list[tuple[int, str]]:
        merged: list[tuple[int, str]] = []
        for kept in accumulators:
            merged.extend(kept)
            merged = self._bounded(merged)
        return merged

    def extract_output(self, kept: list[tuple[int, str]]) -> list[tuple[str, int]]:
        return [(word, count) for count, word in heapq.nlargest(self._size, kept)]

    def _bounded(self, kept: list[tuple[int, str]]) -> list[tuple[int, str]]:
        if len(kept) >= 2 * self._size:
            kept = heapq.nlargest(self._size, kept)
        return kept


class CountWords(beam.PTransform):
    """Documents -> one list of the `max_words` most frequent (word, count) pairs."""

    def __init__(self, do_lower_case: bool, min_count: int, max_words: int, counted: str = "training",
                 handoff: str = "shuffle", folder: str = "") -> None:
        super().__init__()
        self._do_lower_case = do_lower_case
        self._counted = counted
        self._min_count = min_count
        self._max_words = max_words
        self._handoff, self._folder = handoff, folder

    def expand(self, docs):
        return (
            docs
            | "CountTables" >> beam.ParDo(_CountWords(self._do_lower_case, self._counted, self._handoff, self._folder))
            | "GroupBuckets" >> beam.GroupByKey()
            | "SumBuckets" >> beam.ParDo(_SumBucket(self._min_count, self._handoff, self._folder))
            | "MostFrequent" >> beam.CombineGlobally(MostFrequent(self._max_words))
        )


class SampleLines(beam.PTransform):
    """A uniform sample of `size` lines from the whole corpus, the same on every run:
    the lines with the smallest seeded hashes (bounded memory: a top-k combiner)."""

    def __init__(self, size: int, seed: int) -> None:
        super().__init__()
        self._size = size
        self._seed = seed

    def expand(self, docs):
        seed = self._seed
        return (
            docs
            | "KeyLines" >> beam.FlatMap(
                lambda doc: ((stable_fraction(seed, doc.id, i), line) for i, line in enumerate(document_lines(doc)))
            )
            | "SmallestKeys" >> beam.combiners.Top.Smallest(self._size)
            | "DropKeys" >> beam.Map(lambda keyed: [line for _, line in keyed])
        )


def learn_and_write(word_counts: list, heldout_counts: list, sample: list, options: VocabOptions, documents: int,
                    staging: Staging, run: dict) -> dict:
    """The single-worker step: learn, write vocab.txt, then vocab_stats.json (the completion record, listing
    vocab.txt and the run) through `staging`.

    Problems found only now (an empty corpus, a vocab_size too small for the
    alphabet) are written as "error" to vocab_stats.json in the work folder,
    not to the output, instead of failing the job deep in a worker; the CLI
    reports them (see error_stats).
    """
    from vocab import vocab_file, wordpiece_learner

    stats: dict = {
        "method": options.method,
        "vocab_size": options.vocab_size,
        "do_lower_case": options.do_lower_case,
        "documents": documents,
        "distinct_words": len(word_counts),
        "words": sum(count for _, count in word_counts),
        "parameters": {k: v for k, v in dataclasses.asdict(options).items() if k not in ("read", "thresholds")},
    }
    started = time.perf_counter()
    try:
        if not word_counts:
            raise ValueError("the inputs hold no words: nothing to learn a vocabulary from")
        if options.method == "wordpiece":
            tokens = wordpiece_learner.learn_wordpiece(
                word_counts, options.vocab_size, num_unused=options.num_unused, min_char_count=options.min_char_count
            )
        else:
            tokens = _train_sentencepiece(sample, options)
    except ValueError as error:
        stats["error"] = str(error)
        with created(error_stats(staging), CompressionTypes.UNCOMPRESSED) as handle:
            handle.write(_json(stats))
        return stats
    stats["learning_seconds"] = round(time.perf_counter() - started, 3)
    # Through Beam's FileSystems (Staging) like every other output: TensorFlow's gs:// client
    # honours no emulator or custom endpoint, and a worker need not load TF for this.
    data = vocab_file.vocab_bytes(tokens)
    written = {VOCAB_FILE: staging.write(VOCAB_FILE, data)}
    stats["sha256"] = hashlib.sha256(data).hexdigest()
    evaluation_counts = dict(heldout_counts) or dict(word_counts)
    stats["heldout"] = {
        "held_out_documents": bool(heldout_counts),
        "words": sum(evaluation_counts.values()),
        **wordpiece_learner.evaluate(tokens, evaluation_counts),
    }
    stats.update(record_fields(run, written))
    staging.write(STATS_FILE, _json(stats))
    return stats


def _train_sentencepiece(sample: list[str], options: VocabOptions) -> list[str]:
    from vocab.sentencepiece_vocab import train_sentencepiece_wordpiece

    # SentencePiece trains from a local file; the sample is bounded by --sample_lines.
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "sample.txt")
        with open(path, "w", encoding="utf-8") as handle:
            handle.writelines(line.replace("\n", " ") + "\n" for line in sample)
        return train_sentencepiece_wordpiece(
            path,
            options.vocab_size,
            model_type=options.sentencepiece_model_type,
            num_unused=options.num_unused,
            do_lower_case=options.do_lower_case,
        )


def _json(document: dict) -> bytes:
    return json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8")


def error_stats(staging: Staging) -> str:
    """Where a run that learned nothing leaves its vocab_stats.json: in the work folder, never the output."""
    return staging.temporary(STATS_FILE)


def build_pipeline(pipeline: beam.Pipeline, files: list[InputFile], options: VocabOptions, staging: Staging,
                   run: dict) -> None:
    """Adds the stage, writing through `staging` (its output is options.output); `run` identifies the run in
    vocab_stats.json (pipelines.output_folder.run_identity)."""
    docs, _, _ = pipeline | "ReadDocuments" >> ReadDocuments(files, options.read, options.wiki_cleaner, options.thresholds,
                                                             options.handoff, options.handoff_folder, options.spread)
    seed, holdout = options.seed, options.holdout_percent / 100

    def is_heldout(doc: Document) -> bool:
        return stable_fraction(seed, "holdout", doc.id) < holdout

    train = docs | "TrainingDocuments" >> beam.Filter(lambda doc: not is_heldout(doc))
    heldout = docs | "HeldOutDocuments" >> beam.Filter(is_heldout)
    handoff = options.handoff, options.handoff_folder
    word_counts = train | "CountTraining" >> CountWords(options.do_lower_case, options.min_word_count, options.max_words,
                                                        "training", *handoff)
    heldout_counts = heldout | "CountHeldOut" >> CountWords(options.do_lower_case, 1, options.max_words, "heldout",
                                                            *handoff)
    documents = train | "CountDocuments" >> beam.combiners.Count.Globally()
    if options.method == "sentencepiece":
        sample = train | "Sample" >> SampleLines(options.sample_lines, options.seed)
    else:
        sample = pipeline | "NoSample" >> beam.Create([[]])
    _ = word_counts | "Learn" >> beam.Map(
        learn_and_write,
        beam.pvalue.AsSingleton(heldout_counts),
        beam.pvalue.AsSingleton(sample),
        options,
        beam.pvalue.AsSingleton(documents),
        staging,
        run,
    )
