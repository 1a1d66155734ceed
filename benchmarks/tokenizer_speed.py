"""WordPiece tokenizer speed and exactness, side by side, on one core.

    python benchmarks/tokenizer_speed.py [--data benchmarks/data] [--repeats 3] [--cased] [--no-multilingual]
    python benchmarks/tokenizer_speed.py --verify [--data benchmarks/data]

The default run builds the 4.8 MB English input of benchmarks/make_bert_text.py
(eight Gutenberg books, spaCy sentencizer, one sentence per line) and times,
in one process pinned to one core: the reference FullTokenizer
(bert-tensorflow 1.0.4), vocab.tokenization (`tokenize` per line and
`encode_batch`), HF tokenizers' BertWordPieceTokenizer (one Rayon thread) and
tf_text's FastBertTokenizer when it can be imported. Each row is the median
of --repeats runs, each with a freshly built tokenizer (so ours starts with
an empty word cache; the "warm" row reuses one). Tokens/s counts the
reference's tokens for every row; "lines differing" compares each line's
output with the reference's.

Then the multilingual input: the articles of every Wikipedia dump in
--data/wikipedia, cleaned as the corpus stage cleans them (mwparserfromhell),
one paragraph per line, at most 400 KB per dump, grouped by script (Latin:
en, fr, fo, ltg; Cyrillic: bg, uk; Arabic; Thai; Japanese). Uncased and
cased, each group and all of them: the reference against ours (`tokenize`
and `encode` per line), medians of --repeats fresh tokenizers, ratios from
the same run.

--verify compares vocab.tokenization with the reference on every line of
all of --data instead (Gutenberg books, the page text of every Wikipedia
dump, the fine-tuning files), uncased and cased, and counts the lines where
HF tokenizers and tf_text differ from the reference on the same text.
"""
from __future__ import annotations

import os

# Before tokenizers / TF are imported: one thread each.
os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import bz2  # noqa: E402
import gc  # noqa: E402
import multiprocessing  # noqa: E402
import pathlib  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.make_bert_text import BENCHMARK_BOOKS, documents  # noqa: E402
from pipelines.corpus.readers.gutenberg import decode_book  # noqa: E402
from pipelines.corpus.readers.wikipedia_dump import WikiPage, iter_dump  # noqa: E402
from tests.support.reference_bert import import_reference_tokenization  # noqa: E402
from vocab.tokenization import FullTokenizer, load_vocab  # noqa: E402


def bench_lines(gutenberg_dir: pathlib.Path) -> list[str]:
    """The sentences of benchmarks/make_bert_text.py's output, in order."""
    return [sentence for sentences in documents([str(gutenberg_dir / name) for name in BENCHMARK_BOOKS])
            for sentence in sentences]


# Script groups of the dumps in benchmarks/data/wikipedia, by language code.
SCRIPT_GROUPS = {"en": "Latin", "fr": "Latin", "fo": "Latin", "ltg": "Latin", "bg": "Cyrillic", "uk": "Cyrillic",
                 "ar": "Arabic", "th": "Thai", "ja": "Japanese"}
MULTILINGUAL_BYTES_PER_DUMP = 400_000


def multilingual_lines(wikipedia_dir: pathlib.Path) -> dict[str, list[str]]:
    """Script group -> paragraphs of the dumps' articles, cleaned as the corpus stage does, in dump order."""
    from pipelines.corpus.wikitext.cleaners import make_cleaner

    cleaner = make_cleaner("mwparserfromhell")
    groups: dict[str, list[str]] = {}
    for path in sorted(wikipedia_dir.glob("*.bz2")):
        language = path.name.split("wiki")[0]
        lines, size = groups.setdefault(SCRIPT_GROUPS.get(language, "other"), []), 0
        with bz2.open(path) as stream:
            for page in iter_dump(stream):
                if not isinstance(page, WikiPage) or page.namespace != 0 or page.redirect:
                    continue
                paragraphs = [p for p in cleaner.clean(page.text, page.title, language).split("\n\n") if p.strip()]
                lines += paragraphs
                size += sum(len(p.encode()) for p in paragraphs)
                if size >= MULTILINGUAL_BYTES_PER_DUMP:
                    break
    return groups


def pin_to_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to core {core}"
    return "not pinned (no sched_setaffinity)"


# --------------------------------------------------------------------------
# The contenders: factory() -> tokenizer, run(tokenizer, lines) -> output
# --------------------------------------------------------------------------


def reference_contender(vocab_file: str, lower: bool):
    reference = import_reference_tokenization()

    def factory():
        return reference.FullTokenizer(vocab_file, do_lower_case=lower)

    return factory, lambda tok, lines: [tok.tokenize(line) for line in lines]


def ours_contender(vocab_file: str, lower: bool, method: str, warm: list[str] | None = None):
    vocab = load_vocab(vocab_file)

    def factory():
        tok = FullTokenizer.from_vocab(vocab, do_lower_case=lower)
        if warm:
            tok.tokenize_batch(warm)
        return tok

    if method == "encode_batch":
        return factory, lambda tok, lines: tok.encode_batch(lines)
    if method == "encode":
        return factory, lambda tok, lines: [tok.encode(line) for line in lines]
    if method == "encode_words":  # timed as called; its id tuples are joined after timing, see `as_ids`
        return factory, lambda tok, lines: [tok.encode_words(line) for line in lines]
    return factory, lambda tok, lines: [tok.tokenize(line) for line in lines]


def hf_contender(vocab_file: str, lower: bool):
    try:
        from tokenizers import BertWordPieceTokenizer
    except ImportError:
        return None

    def factory():
        return BertWordPieceTokenizer(vocab_file, lowercase=lower, strip_accents=lower)

    def run(tok, lines):
        return [encoding.tokens for encoding in tok.encode_batch(lines, add_special_tokens=False)]

    return factory, run


def tf_text_contender(vocab_file: str, lower: bool, batch: int = 1000):
    try:
        import tensorflow as tf
        import tensorflow_text
    except ImportError:
        return None
    tokens = list(load_vocab(vocab_file))

    def factory():
        return tensorflow_text.FastBertTokenizer(
            vocab=tokens, lower_case_nfd_strip_accents=lower, token_out_type=tf.string
        )

    def run(tok, lines):
        out = []
        for i in range(0, len(lines), batch):
            ragged = tok.tokenize(tf.constant(lines[i : i + batch]))
            out += [[t.decode("utf-8", "replace") for t in row] for row in ragged.to_list()]
        return out

    return factory, run


def time_runs(factory: Callable, run: Callable, lines: list[str], repeats: int) -> tuple[float, list]:
    times, output = [], None
    for _ in range(repeats):
        tokenizer = factory()
        gc.collect()
        started = time.perf_counter()
        output = run(tokenizer, lines)
        times.append(time.perf_counter() - started)
        del tokenizer
    return statistics.median(times), output


def as_ids(output: list) -> list:
    """encode_words' (words, id tuples) per line as one id list per line; other outputs as they are."""
    if output and isinstance(output[0], tuple):
        return [[i for ids in groups for i in ids] for _, groups in output]
    return output


def first_difference(text: str, expected: list, got: list) -> str:
    i = next((i for i, (a, b) in enumerate(zip(expected, got)) if a != b), min(len(expected), len(got)))
    return f"{text[:80]!r}: reference {expected[max(0, i - 2) : i + 3]} vs {got[max(0, i - 2) : i + 3]}"


def speed(args: argparse.Namespace) -> None:
    where = pin_to_one_core()
    data = pathlib.Path(args.data)
    lines = bench_lines(data / "gutenberg")
    megabytes = sum(len(line.encode()) + 1 for line in lines) / 1e6
    vocab_file = str(args.vocab)
    print(f"input: {len(lines):,} lines, {megabytes:.2f} MB; vocab {vocab_file}; {where}; "
          f"median of {args.repeats} runs; do_lower_case={args.lower}\n")

    ref_factory, ref_run = reference_contender(vocab_file, args.lower)
    ref_seconds, ref_tokens = time_runs(ref_factory, ref_run, lines, args.repeats)
    print(f"reference: {ref_seconds:.2f} s", flush=True)
    n_tokens = sum(map(len, ref_tokens))
    ref_vocab = ref_factory().vocab
    ref_ids = [[ref_vocab[token] for token in tokens] for tokens in ref_tokens]
    rows = [("reference FullTokenizer.tokenize", ref_seconds, 0, "")]

    path, lower = vocab_file, args.lower
    contenders = [
        ("ours FullTokenizer.tokenize (per line)", ours_contender(path, lower, "tokenize"), ref_tokens),
        ("ours FullTokenizer.encode (ids, per line)", ours_contender(path, lower, "encode"), ref_ids),
        ("ours FullTokenizer.encode_words (ids, per line)", ours_contender(path, lower, "encode_words"), ref_ids),
        ("ours FullTokenizer.encode_batch (ids)", ours_contender(path, lower, "encode_batch"), ref_ids),
        ("ours tokenize, warm word cache", ours_contender(path, lower, "tokenize", warm=lines), ref_tokens),
        ("HF tokenizers BertWordPieceTokenizer (1 thread)", hf_contender(path, lower), ref_tokens),
        ("tf_text FastBertTokenizer (batches of 1000)", tf_text_contender(path, lower), ref_tokens),
    ]
    for name, contender, expected in contenders:
        if contender is None:
            print(f"{name}: not importable, skipped")
            continue
        seconds, output = time_runs(*contender, lines, args.repeats)
        print(f"{name}: {seconds:.2f} s", flush=True)
        output = as_ids(output)
        differing = [(t, e, g) for t, e, g in zip(lines, expected, output) if e != g]
        example = first_difference(*differing[0]) if differing else ""
        rows.append((name, seconds, len(differing), example))

    print(f"\n{n_tokens:,} reference tokens\n")
    print("| tokenizer | s | tokens/s | vs reference | lines differing |")
    print("|---|---:|---:|---:|---:|")
    for name, seconds, differing, _ in rows:
        ratio = ref_seconds / seconds
        print(f"| {name} | {seconds:.2f} | {n_tokens / seconds:,.0f} | {ratio:.1f}x | {differing:,} |")
    for name, _, differing, example in rows:
        if example:
            print(f"\n{name}, first difference: {example}")
    if args.multilingual:
        multilingual(args)


def multilingual(args: argparse.Namespace) -> None:
    """The reference against ours on the Wikipedia paragraphs, per script group, uncased and cased."""
    groups = multilingual_lines(pathlib.Path(args.data) / "wikipedia")
    vocab_file = str(args.vocab)
    sizes = ", ".join(f"{name} {len(lines):,} lines {sum(len(x.encode()) + 1 for x in lines) / 1e6:.2f} MB"
                      for name, lines in groups.items())
    print(f"\nmultilingual input (Wikipedia articles, one paragraph per line): {sizes}; "
          f"median of {args.repeats} runs\n")
    table = []
    for lower in (True, False):
        totals = {"reference": 0.0, "tokenize": 0.0, "encode": 0.0, "tokens": 0, "differing": 0}
        for name, lines in groups.items():
            ref_factory, ref_run = reference_contender(vocab_file, lower)
            ref_seconds, ref_tokens = time_runs(ref_factory, ref_run, lines, args.repeats)
            ref_vocab = ref_factory().vocab
            ref_ids = [[ref_vocab[token] for token in tokens] for tokens in ref_tokens]
            seconds, differing = {}, 0
            for method, expected in (("tokenize", ref_tokens), ("encode", ref_ids)):
                seconds[method], output = time_runs(*ours_contender(vocab_file, lower, method), lines, args.repeats)
                differing += sum(e != g for e, g in zip(expected, output))
            n_tokens = sum(map(len, ref_tokens))
            table.append((lower, name, len(lines), n_tokens, ref_seconds, seconds, differing))
            for key, value in (("reference", ref_seconds), ("tokens", n_tokens), ("differing", differing),
                               *seconds.items()):
                totals[key] += value
            print(f"{'uncased' if lower else 'cased'} {name}: reference {ref_seconds:.2f} s, "
                  f"tokenize {seconds['tokenize']:.3f} s, encode {seconds['encode']:.3f} s", flush=True)
        table.append((lower, "all", sum(map(len, groups.values())), totals["tokens"], totals["reference"],
                      {"tokenize": totals["tokenize"], "encode": totals["encode"]}, totals["differing"]))
    print("\n| case | script | lines | reference tokens | reference s | ours tokenize s | vs reference "
          "| ours encode s | vs reference | lines differing |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for lower, name, n_lines, n_tokens, ref_seconds, seconds, differing in table:
        bold = "**" if name == "all" else ""
        print(f"| {'uncased' if lower else 'cased'} | {bold}{name}{bold} | {n_lines:,} | {n_tokens:,} "
              f"| {ref_seconds:.2f} | {seconds['tokenize']:.3f} | {bold}{ref_seconds / seconds['tokenize']:.1f}x{bold} "
              f"| {seconds['encode']:.3f} | {bold}{ref_seconds / seconds['encode']:.1f}x{bold} | {differing} |")


# --------------------------------------------------------------------------
# --verify: every line of the shared data
# --------------------------------------------------------------------------


def data_sources(data: pathlib.Path) -> Iterator[tuple[str, list[str]]]:
    """(source name, lines) for every file under `data`."""
    for path in sorted((data / "gutenberg").glob("*.txt")):
        yield f"gutenberg/{path.name}", decode_book(path.read_bytes()).split("\n")
    for path in sorted((data / "wikipedia").glob("*.bz2")):
        with bz2.open(path) as stream:
            pages = [item.text for item in iter_dump(stream) if isinstance(item, WikiPage)]
        lines = [line for page in pages for line in page.split("\n")]
        yield f"wikipedia/{path.name} ({len(pages)} pages)", lines
    for path in sorted(p for p in (data / "finetune").rglob("*") if p.is_file()):
        text = path.read_bytes().decode("utf-8", "replace")
        yield f"finetune/{path.relative_to(data / 'finetune')}", text.split("\n")


def _verify_one(job: tuple[str, str, bool]) -> dict:
    data, vocab_file, lower = job
    reference = import_reference_tokenization()
    ref = reference.FullTokenizer(vocab_file, do_lower_case=lower)
    ours = FullTokenizer(vocab_file, do_lower_case=lower)
    others = {}
    for name, make in (("HF tokenizers", hf_contender), ("tf_text", tf_text_contender)):
        contender = make(vocab_file, lower)
        if contender is not None:
            others[name] = (contender[0](), contender[1])
    totals = {"lines": 0, "differing": 0, "examples": [], "sources": [],
              "others": {name: [0, []] for name in others}}
    for source, lines in data_sources(pathlib.Path(data)):
        differing = 0
        reference_tokens = []
        for line in lines:
            # The reference FullTokenizer.tokenize is exactly this (with
            # preserve_unused_tokens=False): WordPiece over the basic tokens.
            basic = ref.basic_tokenizer.tokenize(line)
            expected = [p for token in basic for p in ref.wordpiece_tokenizer.tokenize(token)]
            reference_tokens.append(expected)
            if ours.basic_tokenizer.tokenize(line) != basic or ours.tokenize(line) != expected:
                differing += 1
                if len(totals["examples"]) < 5:
                    totals["examples"].append(first_difference(line, expected, ours.tokenize(line)))
        for name, (tok, run) in others.items():
            examples = totals["others"][name][1]
            shown = 0  # a few per source, so the examples show each kind of text
            for line, expected, got in zip(lines, reference_tokens, run(tok, lines)):
                if got != expected:
                    totals["others"][name][0] += 1
                    if shown < 3:
                        examples.append(f"[{source}] " + first_difference(line, expected, got))
                        shown += 1
        totals["lines"] += len(lines)
        totals["differing"] += differing
        totals["sources"].append((source, len(lines), differing))
    return totals


def verify(args: argparse.Namespace) -> None:
    jobs = [(args.data, str(args.vocab), lower) for lower in (True, False)]
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.map(_verify_one, jobs)
    for (_, _, lower), result in zip(jobs, results):
        case = "uncased" if lower else "cased"
        print(f"\n## {case}: {result['lines']:,} lines compared, {result['differing']:,} differing\n")
        for source, n, differing in result["sources"]:
            print(f"  {source}: {n:,} lines, {differing} differing")
        for example in result["examples"]:
            print("  ours differs:", example)
        for name, (count, examples) in result["others"].items():
            print(f"\n  {name}: {count:,} of {result['lines']:,} lines differ from the reference; e.g.")
            for example in examples:
                print("   ", example)
    print(f"\n{time.perf_counter() - started:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(REPO / "benchmarks" / "data"))
    parser.add_argument("--vocab", default=str(REPO / "tests" / "data" / "vocab" / "bert-base-uncased-vocab.txt"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cased", dest="lower", action="store_false", help="do_lower_case=False")
    parser.add_argument("--verify", action="store_true", help="exactness over all of --data instead of speed")
    parser.add_argument("--no-multilingual", dest="multilingual", action="store_false",
                        help="only the English input")
    args = parser.parse_args()
    verify(args) if args.verify else speed(args)


if __name__ == "__main__":
    main()
