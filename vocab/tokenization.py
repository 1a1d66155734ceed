"""WordPiece tokenization: a drop-in for the reference `tokenization.FullTokenizer`.

The output is identical to google-research/bert's `tokenization.py`
(bert-tensorflow 1.0.4) on any text, for the same Python (both sides use the
running interpreter's `unicodedata` and `str.lower`), with the reference's
default `preserve_unused_tokens=False`. On one core it is over 30x faster on
English books and about 20x on Wikipedia text in five scripts
(`benchmarks/tokenizer_speed.py`, figures in benchmarks/RESULTS.md).

Why it is fast: the reference walks every character in Python, once per pass
(clean, CJK spacing, accent stripping, punctuation splitting), then searches
every word greedily against the vocabulary. Here each pass runs over the
whole text in C (`str.lower`, `unicodedata.normalize` and compiled regexes
whose character classes are computed once from `unicodedata` over all code
points, with a shortcut for ASCII text), and WordPiece goes through a
per-word cache: word frequencies are Zipfian, so almost every word costs one
dict lookup. Where setup.py could build `vocab/_wordpiece.c`, the loop over
a line's words (ASCII cleaning and splitting, the cache lookups, the greedy
search on a miss, along a trie of the vocab) runs there too, and the passes
above run only on the whitespace-separated non-ASCII chunks that its chunk
cache lacks: the reference normalizes each whitespace token on its own, so a
chunk's words depend on the chunk alone. The Python path below gives the same
output and is used without a C compiler.

Why it is exact, although the reference applies lowercasing, NFD and accent
stripping to each whitespace token before splitting off punctuation, and
this module applies them to the whole text (checked for every code point by
`tests/vocab/test_tokenization.py` against the reference):

* tokens are separated by whitespace, which is a starter for NFD (so NFD of
  the text is the concatenation of NFD of its pieces) and neither cased nor
  case-ignorable (so `str.lower`'s final-sigma rule sees the same context);
* punctuation produced by NFD (U+037E -> ";", U+1FEF -> "`",
  U+2260 -> "=" + U+0338) is split off, because the split runs after NFD,
  as in the reference;
* CJK ideographs are neither cased nor case-ignorable, and lowercasing and
  NFD map the reference's CJK ranges into themselves and nothing else into
  them, so isolating CJK characters in the final split (instead of spacing
  them out before lowercasing) gives the same tokens.
"""
from __future__ import annotations

import functools
import itertools
import re
import unicodedata
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence

from vocab.unicode_classes import Ranges, category_ranges, class_body, merge_ranges

try:  # the per-word loop compiled (vocab/_wordpiece.c): setup.py builds it where a C compiler is found
    from vocab import _wordpiece as _compiled
except ImportError:
    _compiled = None

__all__ = [
    "BasicTokenizer",
    "FullTokenizer",
    "VocabError",
    "WordpieceTokenizer",
    "convert_to_unicode",
    "load_vocab",
]

SPECIAL_TOKENS = ("[UNK]", "[CLS]", "[SEP]", "[MASK]")

# The reference's "Chinese character" ranges (CJK Unified Ideographs, their
# extensions A-E, and the two compatibility-ideograph blocks).
_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def is_chinese_char(char: str) -> bool:
    """A character the tokenizer splits off as its own word (see _CJK_RANGES)."""
    code = ord(char)
    return any(first <= code <= last for first, last in _CJK_RANGES)


# Non-alphanumeric printable ASCII counts as punctuation even where Unicode
# calls it a symbol ("$", "^", "`", ...).
_ASCII_PUNCT_RANGES = ((33, 47), (58, 64), (91, 96), (123, 126))

# A word cache this large covers the vocabulary of a big corpus; clearing it
# when full bounds memory on adversarial input (random strings) and costs
# only recomputation.
DEFAULT_CACHE_SIZE = 500_000
# What the pipelines' workers keep per cache instead. Word frequencies are Zipfian, so the 100,000 most recent
# cover nearly every lookup: on the 1 GB scale run (124M tokens, 260,000 distinct words per worker) tokenizing for
# pretraining data took the same 30 s as with the default, and each worker held ~100 MB less; counting the words
# of the 256 MB run's corpus took 7.1-7.4 CPU s against 6.8-7.7 with the default, with 45-55 MB less.
WORKER_CACHE_SIZE = 100_000


class VocabError(ValueError):
    """A vocabulary file that cannot be used; the message says what to change."""


def convert_to_unicode(text: str | bytes) -> str:
    """`str` as is; `bytes` decoded as UTF-8 dropping invalid bytes, as the reference does."""
    if isinstance(text, str):
        return text
    if isinstance(text, bytes):
        return text.decode("utf-8", "ignore")
    raise ValueError(f"Unsupported string type: {type(text)}")


# --------------------------------------------------------------------------
# Character classes, computed once from unicodedata
# --------------------------------------------------------------------------


class _Passes:
    """The regexes of the whole-text passes, for the code points below `below`."""

    def __init__(self, drop: Ranges, mn: Ranges, isolated: Ranges, below: int) -> None:
        self.drop = re.compile(f"[{class_body(drop, below)}]+")
        self.mn = re.compile(f"[{class_body(mn, below)}]+")
        # One token per punctuation or CJK character; any other run of
        # non-whitespace is a word. `\\s` is str.isspace(), the set str.split()
        # uses; every Unicode Zs character is in it.
        iso = class_body(isolated, below)
        self.token = re.compile(f"[{iso}]|[^\\s{iso}]+")


class _Tables:
    """Compiled regexes for the whole-text passes, built once from unicodedata."""

    def __init__(self) -> None:
        # Control and format characters vanish (not even a space), except
        # tab/LF/CR, which are whitespace; so do NUL and U+FFFD.
        self.drop = category_ranges(("Cc", "Cf"), add=[(0, 0), (0xFFFD, 0xFFFD)], exclude="\t\n\r")
        punct = category_ranges(("P",), add=_ASCII_PUNCT_RANGES)
        self.isolated = merge_ranges([*punct, *_CJK_RANGES])
        self.mn = category_ranges(("Mn",))
        # sre tests a class's BMP part with one bitmap lookup but its
        # astral ranges one by one, so text that is and stays in the BMP
        # (nearly all) gets classes without astral ranges: 10-20x faster.
        # A few BMP characters become astral under NFD (U+FA6C -> U+242EE),
        # so they send a text down the full path too.
        self.bmp = _Passes(self.drop, self.mn, self.isolated, 0x10000)
        self.astral_re = re.compile(f"[\\U00010000-\\U0010ffff{class_body(_bmp_to_astral())}]")
        self.ascii_drop_re = re.compile("[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]+")
        self.ascii_token_re = re.compile(r"[A-Za-z0-9]+|[^A-Za-z0-9\s]")

    @functools.cached_property
    def full(self) -> _Passes:
        """The passes for text that is or becomes astral: compiled on the first such text, which most runs never see."""
        return _Passes(self.drop, self.mn, self.isolated, 0x110000)


def _bmp_to_astral() -> Ranges:
    """The BMP code points whose lowercased NFD holds an astral character."""
    # lower() and NFD map each character on its own (the final-sigma rule picks between two BMP letters, and
    # canonical reordering only moves marks), so a block of characters maps to an astral one exactly when one
    # of its characters does: halving the blocks that do finds them in a few dozen normalizations where a
    # scan takes 63,488.
    astral = re.compile("[\\U00010000-\\U0010ffff]")
    found: Ranges = []

    def search(chars: str, first: int, start: int, end: int) -> None:
        """Appends the code points of chars[start:end] (chars[0] is `first`) that map to astral ones."""
        if not astral.search(unicodedata.normalize("NFD", chars[start:end].lower())):
            return
        if end - start == 1:
            found.append((first + start, first + start))
            return
        middle = (start + end) // 2
        search(chars, first, start, middle)
        search(chars, first, middle, end)

    for first, last in ((0, 0xD7FF), (0xE000, 0xFFFF)):  # the surrogates are no characters
        chars = "".join(map(chr, range(first, last + 1)))
        search(chars, first, 0, len(chars))
    return found


@functools.cache
def _tables() -> _Tables:
    return _Tables()


@functools.cache
def _isolated_bitmap() -> bytes:
    """The isolated class (punctuation, CJK) as one bit per code point, for the compiled path."""
    bits = bytearray(0x110000 // 8)
    for first, last in _tables().isolated:
        # The whole bytes inside a range in one slice (the CJK blocks are 100k code points), its ends bit by bit.
        whole_first, whole_end = (first + 7) >> 3, (last + 1) >> 3
        if whole_first < whole_end:
            bits[whole_first:whole_end] = b"\xff" * (whole_end - whole_first)
            loose = itertools.chain(range(first, whole_first << 3), range(whole_end << 3, last + 1))
        else:
            loose = range(first, last + 1)
        for cp in loose:
            bits[cp >> 3] |= 1 << (cp & 7)
    return bytes(bits)


def _normalized(text: str, lower: bool) -> tuple[str, _Passes]:
    """Non-ASCII `text` cleaned, and lowercased with accents stripped when `lower`; and the passes for it."""
    tables = _tables()
    passes = tables.full if tables.astral_re.search(text) else tables.bmp
    text = passes.drop.sub("", text)
    if lower:
        text = text.lower()
        if not text.isascii():
            text = passes.mn.sub("", unicodedata.normalize("NFD", text))
    return text, passes


def _normalize_lower(text: str) -> str:
    return _normalized(text, True)[0]


def _normalize_cased(text: str) -> str:
    return _normalized(text, False)[0]


def _basic_tokens(text: str, lower: bool) -> list[str]:
    """The reference BasicTokenizer's output for `text` (already a str)."""
    tables = _tables()
    if text.isascii():
        # No NFD, Mn or CJK work possible; lower() is ASCII-only. Of ASCII,
        # only the dropped controls and tab/LF/CR are not printable.
        if not text.isprintable():
            text = tables.ascii_drop_re.sub("", text)
        if lower:
            text = text.lower()
        return tables.ascii_token_re.findall(text)
    text, passes = _normalized(text, lower)
    return passes.token.findall(text)


def _encoder(lower: bool, wordpiece: WordpieceTokenizer, cache: dict | None = None, ids: bool = False,
             chunks: dict | None = None) -> object | None:
    """The compiled loop over whole texts (None without the extension): basic tokens as `_basic_tokens`
    gives them, and each word's pieces (token ids when `ids`) through `cache` and `wordpiece`'s vocab (an
    empty one for basic tokens only). `chunks` caches the words of each whitespace-separated non-ASCII chunk;
    encoders with the same casing can share it. Every cache holds at most `wordpiece.cache_size` entries."""
    if _compiled is None:
        return None
    return _compiled.Encoder(
        lower=lower,
        normalize=_normalize_lower if lower else _normalize_cased,
        isolated=_isolated_bitmap(),
        lookup=wordpiece.vocab if ids else wordpiece._canonical,
        ids=ids,
        cache=wordpiece._cache if cache is None else cache,
        chunks={} if chunks is None else chunks,
        cache_limit=wordpiece.cache_size,
        max_chars=wordpiece.max_input_chars_per_word,
        unk_token=wordpiece.unk_token,
    )


# --------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------


def load_vocab(vocab_file: str) -> dict[str, int]:
    """Reads a vocab file (one token per line, id = line order) via tf.io.gfile.

    Lines are cut at "\\n" and stripped of surrounding whitespace, as the
    reference does; a blank line is the token "". Raises VocabError for an
    empty or non-UTF-8 file, a duplicate token (the reference would silently
    shift every later id) and missing special tokens.
    """
    import tensorflow as tf  # lazy: the tokenizer itself does not need TF

    try:
        with tf.io.gfile.GFile(vocab_file, "rb") as reader:
            data = reader.read()
    except tf.errors.OpError as error:
        raise VocabError(f"cannot read vocab file {vocab_file}: {error.message}") from None
    return parse_vocab(data, vocab_file)


def parse_vocab(data: bytes, vocab_file: str) -> dict[str, int]:
    """A vocab file's bytes as load_vocab reads them, for callers that read files without TensorFlow."""
    lines = data.split(b"\n")
    if lines[-1] == b"":  # the newline that ends the last line
        lines.pop()
    if not lines:
        raise VocabError(f"vocab file {vocab_file} is empty; give a file with one token per line")
    vocab: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        try:
            token = raw.decode("utf-8").strip()
        except UnicodeDecodeError as error:
            raise VocabError(
                f"{vocab_file}, line {number}: not valid UTF-8 ({error.reason}); "
                "save the vocab file as UTF-8"
            ) from None
        if token in vocab:
            shown = repr(token) if token else "a blank line"
            raise VocabError(
                f"{vocab_file}, line {number}: token {shown} duplicates line "
                f"{vocab[token] + 1}; remove one of them (token ids are line numbers)"
            )
        vocab[token] = len(vocab)
    missing = [token for token in SPECIAL_TOKENS if token not in vocab]
    if missing:
        raise VocabError(
            f"vocab file {vocab_file} lacks the special token(s) {' '.join(missing)}; "
            "add each on a line of its own"
        )
    return vocab


def case_mismatch(vocab: Mapping[str, int], do_lower_case: bool, vocab_file: str) -> str | None:
    """Why `do_lower_case` cannot be the casing `vocab` was made for, or None. Lower-casing input makes every
    cased token unreachable; keeping case with a vocab that has no capital letters turns every capitalized word
    into [UNK] or pieces. Both train and run without an error and give a much worse model, so callers refuse
    them. A vocab counts as cased when more than 2% of its tokens (bracketed special tokens aside) change under
    lower-casing; BERT's cased vocabs are far above that, the uncased ones at 0."""
    words = [token for token in vocab if not (token.startswith("[") and token.endswith("]"))]
    cased = sum(token != token.lower() for token in words)
    if do_lower_case and cased > 0.02 * len(words):
        return (f"{vocab_file} is a cased vocab ({cased} of {len(words)} tokens have capitals) but the text is to "
                "be lower-cased: give --do_lower_case=false, or the uncased vocab")
    if not do_lower_case and words and not cased:
        return (f"{vocab_file} is an uncased vocab (no token has a capital) but the text keeps its case: give "
                "--do_lower_case=true, or the cased vocab")
    return None


def _pack_vocab(vocab: Mapping[str, int]) -> str | dict[str, int]:
    """A compact picklable form: one string when ids are 0..n-1 in order."""
    tokens = list(vocab)
    if tokens and all(vocab[token] == i for i, token in enumerate(tokens)) and not any(
        "\n" in token for token in tokens
    ):
        return "\n".join(tokens)
    return dict(vocab)


def _unpack_vocab(packed: str | dict[str, int]) -> dict[str, int]:
    if isinstance(packed, dict):
        return packed
    return {token: i for i, token in enumerate(packed.split("\n"))}


# --------------------------------------------------------------------------
# Tokenizers
# --------------------------------------------------------------------------


class BasicTokenizer:
    """Cleans text, splits off punctuation and CJK characters, optionally lowercases.

    `vocab` is accepted for the reference's signature and unused: it only
    matters there with `--preserve_unused_tokens`, which defaults to False.
    `cache_size` bounds the cache of non-ASCII chunks' words (the compiled path).
    """

    def __init__(self, do_lower_case: bool = True, vocab: object = (), *, cache_size: int = DEFAULT_CACHE_SIZE
                 ) -> None:
        self.do_lower_case = do_lower_case
        self.cache_size = cache_size
        self._chunk_cache: dict[str, tuple[str, ...]] = {}
        self._compiled = _encoder(do_lower_case, WordpieceTokenizer({}, cache_size=cache_size),
                                  chunks=self._chunk_cache)

    def __getstate__(self) -> dict:
        return {"do_lower_case": self.do_lower_case, "cache_size": self.cache_size}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["do_lower_case"], cache_size=state.get("cache_size", DEFAULT_CACHE_SIZE))

    def tokenize(self, text: str) -> list[str]:
        if self._compiled is not None:
            return self._compiled.basic(text)
        return _basic_tokens(convert_to_unicode(text), self.do_lower_case)


class _WordCache(dict):
    """word -> tuple of outputs, computed on a miss, cleared when full."""

    def __init__(self, compute: Callable[[str], tuple], limit: int) -> None:
        super().__init__()
        self.compute = compute
        self.limit = limit

    def __missing__(self, word: str) -> tuple:
        if len(self) >= self.limit:
            self.clear()
        value = self[word] = self.compute(word)
        return value


class WordpieceTokenizer:
    """Greedy longest-match-first WordPiece, "##" marking word-internal pieces."""

    def __init__(
        self,
        vocab: Mapping[str, int],
        unk_token: str = "[UNK]",
        max_input_chars_per_word: int = 200,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        self.vocab = vocab
        self.unk_token = unk_token
        self.max_input_chars_per_word = max_input_chars_per_word
        self.cache_size = cache_size
        self._init_cache()

    def _init_cache(self) -> None:
        # No piece is longer than the longest vocab entry, so the search for
        # the longest match can start there instead of at the end of the word.
        self._longest = max(map(len, self.vocab), default=0)
        self._canonical = {token: token for token in self.vocab}
        self._cache = _WordCache(self.split_word, self.cache_size)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        del state["_cache"], state["_longest"], state["_canonical"]
        state["vocab"] = _pack_vocab(self.vocab)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.vocab = _unpack_vocab(state["vocab"])
        self._init_cache()

    def split_word(self, word: str) -> tuple[str, ...]:
        """The pieces of one word (no whitespace in it), uncached."""
        if len(word) > self.max_input_chars_per_word:
            return (self.unk_token,)
        if word in self.vocab:
            return (word,)
        # Pieces are the vocab's own strings, so cached words share them.
        canonical = self._canonical
        pieces = []
        start, length = 0, len(word)
        while start < length:
            end = min(length, start + self._longest)
            while end > start:
                piece = canonical.get(word[start:end] if start == 0 else "##" + word[start:end])
                if piece is not None:
                    break
                end -= 1
            else:  # no piece fits at `start`: the whole word is unknown
                return (self.unk_token,)
            pieces.append(piece)
            start = end
        return tuple(pieces)

    def tokenize(self, text: str) -> list[str]:
        """Pieces of every whitespace-separated word of `text`."""
        words = convert_to_unicode(text).split()
        return list(itertools.chain.from_iterable(map(self._cache.__getitem__, words)))


class _Shared:
    """A FullTokenizer's pickled state and the attributes built from it, for every tokenizer of that state."""

    __slots__ = ("state", "attributes", "__weakref__")

    def __init__(self, state: dict, attributes: dict) -> None:
        self.state = state
        self.attributes = attributes


# Tokenizers pickled or unpickled in one process share the attributes built from equal pickled states (vocab
# dicts, compiled encoders, word caches) while one of them lives: Beam unpickles a tokenizer for every DoFn
# instance (each stage, each thread), and sharing builds it (~20 ms) and holds its caches once per process.
# The caches map words to pure functions of them, and no user keeps state in them across a call that another
# thread's use could break: the compiled loop holds no borrowed entry past anything that can switch threads,
# and _WordCache only adds and clears.
_SHARED: weakref.WeakValueDictionary[tuple, _Shared] = weakref.WeakValueDictionary()


def _shared_key(state: dict) -> tuple:
    vocab = state["vocab"]
    # The compiled loop can be switched off (tests do), so a tokenizer's parts depend on it too.
    return (vocab if isinstance(vocab, str) else tuple(vocab.items()), state["do_lower_case"], state["cache_size"],
            _compiled is not None)


class FullTokenizer:
    """BasicTokenizer then WordPiece, with the reference FullTokenizer's interface.

    `cache_size` bounds each of its two word caches (pieces for `tokenize`,
    ids for `encode`/`encode_batch`), and the compiled path's cache of the
    words of whitespace-separated non-ASCII chunks; 500k cached words take
    about 100 MB.

    Copies made by pickling share the original's vocab, encoders and caches
    within a process (see _SHARED), so the tokenizer and its vocab must not
    be changed once it has been pickled.
    """

    def __init__(
        self, vocab_file: str, do_lower_case: bool = True, *, cache_size: int = DEFAULT_CACHE_SIZE
    ) -> None:
        self._setup(load_vocab(vocab_file), do_lower_case, cache_size)

    @classmethod
    def from_vocab(
        cls, vocab: Mapping[str, int], do_lower_case: bool = True, *, cache_size: int = DEFAULT_CACHE_SIZE
    ) -> FullTokenizer:
        """A tokenizer over an already loaded vocab (token -> id)."""
        tokenizer = cls.__new__(cls)
        tokenizer._setup(dict(vocab), do_lower_case, cache_size)
        return tokenizer

    def _setup(self, vocab: dict[str, int], do_lower_case: bool, cache_size: int) -> None:
        self.vocab = vocab
        self.inv_vocab = {i: token for token, i in vocab.items()}
        self.do_lower_case = do_lower_case
        self.cache_size = cache_size
        self.basic_tokenizer = BasicTokenizer(do_lower_case=do_lower_case, cache_size=cache_size)
        self.wordpiece_tokenizer = WordpieceTokenizer(vocab=vocab, cache_size=cache_size)
        split_word = self.wordpiece_tokenizer.split_word
        # Its own cache, so that a caller who only encodes keeps one cache.
        self._id_cache = _WordCache(lambda word: tuple(map(vocab.__getitem__, split_word(word))), cache_size)
        # The compiled loops (None without the extension) share these caches with the Python path, and their
        # chunk cache with each other.
        self._chunk_cache: dict[str, tuple[str, ...]] = {}
        self._compiled_pieces = _encoder(do_lower_case, self.wordpiece_tokenizer, chunks=self._chunk_cache)
        self._compiled_ids = _encoder(do_lower_case, self.wordpiece_tokenizer, self._id_cache, ids=True,
                                      chunks=self._chunk_cache)

    def __getstate__(self) -> dict:
        # Only what rebuilds the rest: Beam ships this object to every worker.
        shared = self.__dict__.get("_shared")
        if shared is None:
            shared = self._share({
                "vocab": _pack_vocab(self.vocab),
                "do_lower_case": self.do_lower_case,
                "cache_size": self.cache_size,
            })
        return dict(shared.state)

    def __setstate__(self, state: dict) -> None:
        shared = _SHARED.get(_shared_key(state))
        if shared is None:
            self._setup(_unpack_vocab(state["vocab"]), state["do_lower_case"], state["cache_size"])
            self._share(state)
        else:
            self.__dict__.update(shared.attributes)
            self._shared = shared

    def _share(self, state: dict) -> _Shared:
        """Offers this tokenizer's attributes to the tokenizers unpickled from `state` in this process."""
        shared = self._shared = _Shared(dict(state), dict(self.__dict__))
        _SHARED.setdefault(_shared_key(state), shared)
        return shared

    def tokenize(self, text: str) -> list[str]:
        if self._compiled_pieces is not None:
            return self._compiled_pieces.encode(text)
        words = _basic_tokens(convert_to_unicode(text), self.do_lower_case)
        return list(itertools.chain.from_iterable(map(self.wordpiece_tokenizer._cache.__getitem__, words)))

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`: convert_tokens_to_ids(tokenize(text)), faster."""
        if self._compiled_ids is not None:
            return self._compiled_ids.encode(text)
        words = _basic_tokens(convert_to_unicode(text), self.do_lower_case)
        return list(itertools.chain.from_iterable(map(self._id_cache.__getitem__, words)))

    def encode_words(self, text: str) -> tuple[list[str], list[tuple[int, ...]]]:
        """The basic tokenizer's words of `text` and each word's ids (whole-word masking needs both)."""
        if self._compiled_ids is not None:
            return self._compiled_ids.encode_words(text)
        words = _basic_tokens(convert_to_unicode(text), self.do_lower_case)
        return words, list(map(self._id_cache.__getitem__, words))

    def tokenize_batch(self, texts: Sequence[str]) -> list[list[str]]:
        """[tokenize(text) for text in texts]."""
        if self._compiled_pieces is not None:
            return self._compiled_pieces.encode_batch(texts)
        return [self.tokenize(text) for text in texts]

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, as convert_tokens_to_ids(tokenize(text))."""
        if self._compiled_ids is not None:
            return self._compiled_ids.encode_batch(texts)
        return [self.encode(text) for text in texts]

    def convert_tokens_to_ids(self, tokens: Iterable[str]) -> list[int]:
        return list(map(self.vocab.__getitem__, tokens))

    def convert_ids_to_tokens(self, ids: Iterable[int]) -> list[str]:
        return list(map(self.inv_vocab.__getitem__, ids))
