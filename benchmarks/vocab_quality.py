"""WordPiece vocab quality: ours vs SentencePiece-converted vs HF `tokenizers`, same corpus.

    python benchmarks/vocab_quality.py [--data benchmarks/data] [--sizes 8000,30000] [--no-speed]

Corpus: the bodies of the English Gutenberg books in DATA/gutenberg
(`parse_book`, language "en") and the English Wikipedia articles in
DATA/wikipedia/enwiki-* (redirects etc. dropped, wikitext cleaned with
mwparserfromhell), one document each. 10% of the documents, chosen by the
SHA-256 of their ids (deterministic), are held out.

Every learner gets the same basic-tokenized training text (BERT's uncased
`BasicTokenizer`) and the same vocab size, and every vocab goes through the
same `vocab_file.assemble_vocab` into BERT's layout ([PAD], 99 [unused],
[UNK], [CLS], [SEP], [MASK]), so each has the same number of slots for
pieces. All are scored by `wordpiece_learner.evaluate` (the reference greedy
longest-match-first WordPiece) on the held-out words:

* ours: `learn_wordpiece` on the training word counts;
* sentencepiece unigram / bpe: `train_sentencepiece_wordpiece` on the
  training lines (its time includes basic-tokenizing them);
* HF: `tokenizers` `WordPieceTrainer` (what `BertWordPieceTokenizer.train`
  uses) on the basic-tokenized lines, min_frequency=0 and an alphabet limit
  above the corpus' character count, so that it fills the vocab and keeps
  the same alphabet as ours. HF runs on one thread (RAYON_NUM_THREADS=1),
  like ours.

"dead" counts learned pieces (not specials, not the alphabet) that greedy
matching never uses on the training words.

The speed section times `learn_wordpiece` at 30k on the word counts of
everything in DATA (all languages: 10 Wikipedia dumps, 15 books), on the
100k most frequent words and on all of them.
"""
from __future__ import annotations

import argparse
import collections
import glob
import hashlib
import os
import sys
import tempfile
import time

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # before tokenizers loads: one thread, like ours
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pipelines.corpus.documents import MalformedInput  # noqa: E402
from pipelines.corpus.inputs import open_decompressed  # noqa: E402
from pipelines.corpus.readers import gutenberg  # noqa: E402
from pipelines.corpus.readers.wikipedia_dump import WikiPage, iter_dump  # noqa: E402
from pipelines.corpus.readers.wikipedia_pages import page_drop_reason  # noqa: E402
from pipelines.corpus.wikitext.cleaners import make_cleaner  # noqa: E402
from vocab.sentencepiece_vocab import train_sentencepiece_wordpiece  # noqa: E402
from vocab.tokenization import BasicTokenizer  # noqa: E402
from vocab.vocab_file import SPECIAL_TOKENS, assemble_vocab  # noqa: E402
from vocab.wordpiece_learner import _greedy, _max_piece_len, alphabet, evaluate, learn_wordpiece  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM_UNUSED = 99


def _timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


# --------------------------------------------------------------------------
# Corpus


def wiki_documents(paths: list[str]) -> list[tuple[str, str]]:
    cleaner = make_cleaner("mwparserfromhell")
    docs = []
    for path in paths:
        with open_decompressed(path) as stream:
            pages = iter_dump(stream)
            site = next(pages)
            for page in pages:
                if isinstance(page, WikiPage) and page_drop_reason(page) is None:
                    text = cleaner.clean(page.text, page.title, site.language)
                    docs.append((f"{os.path.basename(path).split('-', 1)[0]}:{page.page_id}", text))
    return docs


def book_documents(paths: list[str], language: str | None) -> list[tuple[str, str]]:
    docs = []
    for path in paths:
        with open_decompressed(path) as stream:
            try:
                book = gutenberg.parse_book(stream.read())
            except MalformedInput:
                continue
        if language is None or book.language == language:
            docs.append((f"gutenberg:{os.path.basename(path)}", book.body))
    return docs


def split_heldout(docs: list[tuple[str, str]], fraction: float = 0.1):
    ranked = sorted(docs, key=lambda doc: hashlib.sha256(doc[0].encode()).hexdigest())
    held = {doc_id for doc_id, _ in ranked[: max(1, round(len(docs) * fraction))]}
    return [d for d in docs if d[0] not in held], [d for d in docs if d[0] in held]


def basic_lines(docs: list[tuple[str, str]], tokenize) -> list[list[str]]:
    return [tokenize(line) for _, text in docs for line in text.split("\n") if line.strip()]


def counts_of(lines: list[list[str]]) -> dict[str, int]:
    counts: collections.Counter = collections.Counter()
    for words in lines:
        counts.update(words)
    return dict(counts)


# --------------------------------------------------------------------------
# Learners


def hf_wordpiece(text_lines: list[str], vocab_size: int, num_chars: int) -> list[str]:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()  # the text is basic-tokenized already
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size - NUM_UNUSED,  # + its 5 specials = our layout's piece room
        min_frequency=0,
        limit_alphabet=num_chars + 1,
        special_tokens=list(SPECIAL_TOKENS),
        show_progress=False,
    )
    tokenizer.train_from_iterator(text_lines, trainer)
    ranked = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    return assemble_vocab([t for t, _ in ranked if t not in SPECIAL_TOKENS], vocab_size, NUM_UNUSED)


def dead_pieces(vocab: list[str], counts: dict[str, int], alpha: list[str]) -> int:
    vocab_set = frozenset(vocab)
    max_len = _max_piece_len(vocab_set)
    used: set[str] = set()
    for word in counts:
        split = _greedy(word, vocab_set, max_len) if len(word) <= 200 else None
        if split:
            used.update(split)
    fixed = set(alpha) | set(vocab[: NUM_UNUSED + 5])
    return sum(1 for t in vocab if t not in fixed and t not in used and not t.startswith("[unused"))


# --------------------------------------------------------------------------


def quality(data: str, sizes: list[int]) -> None:
    tokenize = BasicTokenizer(do_lower_case=True).tokenize
    books = book_documents(sorted(glob.glob(os.path.join(data, "gutenberg", "*.txt"))), "en")
    wiki = wiki_documents(sorted(glob.glob(os.path.join(data, "wikipedia", "enwiki-*.bz2"))))
    train_docs, held_docs = split_heldout(books + wiki)
    (train_lines, held_lines), tokenize_s = _timed(
        lambda: (basic_lines(train_docs, tokenize), basic_lines(held_docs, tokenize))
    )
    train_counts, held_counts = counts_of(train_lines), counts_of(held_lines)
    alpha = alphabet(train_counts)
    unseen = sum(c for w, c in held_counts.items() if w not in train_counts)
    print(f"corpus: {len(books)} English books + {len(wiki)} English Wikipedia articles; "
          f"held out {len(held_docs)} documents: {', '.join(sorted(d for d, _ in held_docs))}")
    print(f"training: {sum(train_counts.values()):,} words, {len(train_counts):,} distinct, "
          f"{len(alpha) // 2} characters; held-out: {sum(held_counts.values()):,} words, "
          f"{len(held_counts):,} distinct, {unseen / sum(held_counts.values()):.2%} of them unseen in training; "
          f"basic tokenization of both {tokenize_s:.1f} s\n")

    text_lines = [" ".join(words) for words in train_lines]
    raw_lines = [line for _, text in train_docs for line in text.split("\n") if line.strip()]
    with tempfile.TemporaryDirectory() as folder:
        sentences = os.path.join(folder, "train.txt")
        with open(sentences, "w", encoding="utf-8") as handle:
            handle.writelines(line + "\n" for line in raw_lines)
        learners = {
            "ours (`learn_wordpiece`)": lambda size: learn_wordpiece(train_counts, size),
            "ours via SentencePiece unigram": lambda size: train_sentencepiece_wordpiece(sentences, size),
            "ours via SentencePiece bpe": lambda size: train_sentencepiece_wordpiece(sentences, size, model_type="bpe"),
            "HF `WordPieceTrainer`": lambda size: hf_wordpiece(text_lines, size, len(alpha) // 2),
        }
        rows = []
        for size in sizes:
            for name, learn in learners.items():
                vocab, seconds = _timed(learn, size)
                assert len(vocab) == size and len(set(vocab)) == size, name
                held, train = evaluate(vocab, held_counts), evaluate(vocab, train_counts)
                rows.append((size, name, held, train, seconds, dead_pieces(vocab, train_counts, alpha),
                             sum(t.startswith("[unused") for t in vocab) - NUM_UNUSED))
                print(f"  {size} {name}: {seconds:.1f} s", file=sys.stderr)
    print("| vocab | learner | held-out UNK rate | held-out pieces/word | train pieces/word | learning s | dead pieces | padding |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for size, name, held, train, seconds, dead, padding in rows:
        print(f"| {size:,} | {name} | {held['unk_rate']:.4%} | {held['pieces_per_word']:.4f} | "
              f"{train['pieces_per_word']:.4f} | {seconds:.1f} | {dead:,} | {padding:,} |")
    print()


def speed(data: str) -> None:
    tokenize = BasicTokenizer(do_lower_case=True).tokenize
    docs = book_documents(sorted(glob.glob(os.path.join(data, "gutenberg", "*.txt"))), None)
    docs += wiki_documents(sorted(glob.glob(os.path.join(data, "wikipedia", "*.bz2"))))
    counts = counts_of(basic_lines(docs, tokenize))
    top = dict(sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:100_000])
    print("| distinct words | words | characters | vocab | `learn_wordpiece` s |")
    print("|---:|---:|---:|---:|---:|")
    for subset in (top, counts):
        _, seconds = _timed(learn_wordpiece, subset, 30_000)
        print(f"| {len(subset):,} | {sum(subset.values()):,} | {len(alphabet(subset)) // 2:,} | 30,000 | {seconds:.1f} |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.path.join(REPO, "benchmarks", "data"))
    parser.add_argument("--sizes", default="8000,30000")
    parser.add_argument("--no-speed", action="store_true", help="skip the speed section")
    args = parser.parse_args()
    quality(args.data, [int(s) for s in args.sizes.split(",")])
    if not args.no_speed:
        speed(args.data)


if __name__ == "__main__":
    main()
