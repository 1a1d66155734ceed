"""Sentence segmentation with spaCy.

By default each language gets a blank spaCy pipeline with the rule-based
`sentencizer`: nothing to download, fast, and good enough for BERT's
next-sentence task. A trained pipeline (e.g. en_core_web_sm) can be named
instead; it is then used for every language.

The segmenter is pickled to Beam workers; its spaCy pipelines are built
lazily on first use in the worker and are never pickled. spaCy itself is
imported there too, on first use: a launcher that only plans the job never
loads it.
"""
from __future__ import annotations

import functools
import re
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING, Any

from pipelines.corpus.normalization import CJK_CHARS
from pipelines.corpus.sentence_starts import SentenceStarts

if TYPE_CHECKING:
    from spacy.language import Language

__all__ = ["spacy_language", "SentenceSegmenter", "MAX_CHUNK_CHARS", "cut_text"]

# Paragraphs longer than this are cut before spaCy sees them: spaCy refuses
# texts over nlp.max_length (1,000,000) and a Doc costs far more memory
# than its text, so a bounded chunk keeps worker memory bounded too.
MAX_CHUNK_CHARS = 100_000

MULTI_LANGUAGE = "xx"

# Wikipedia codes that are not ISO codes spaCy knows under another name.
_ALIASES = {"simple": "en", "no": "nb"}

# Chinese and Japanese (and the other Han-script wikis) use spaCy's
# multi-language tokenizer plus the CJK rules below, not spacy.blank("zh"):
# "zh" tokenizes one character per token, so the sentencizer splits "3.14"
# and "U.S." at every ".", and "ja" needs SudachiPy. With the CJK infixes
# below, "xx" splits at 。！？ and keeps Latin words and numbers intact.
_CJK_LANGUAGES = frozenset({"zh", "ja", "yue", "wuu", "gan", "lzh", "cdo", "hak", "hsn", "nan"})

_CJK_TERMINATORS = "。｡！？"
_CJK_CLOSERS = "」』）】〕〉》］｝〙〗〛｣”’"
# Extra tokenizer infixes so sentence punctuation inside unspaced CJK text
# becomes its own token, which is what the sentencizer looks at. A closing
# quote/bracket right after it is split off too: it is punctuation, so the
# sentencizer keeps it with the sentence it closes (「…。」).
_CJK_INFIXES = [
    f"[{_CJK_TERMINATORS}]",
    "．(?![0-9０-９])",  # full-width full stop, not a full-width decimal point
    f"(?<={CJK_CHARS})[.!?]",  # half-width ! ? . written after CJK text
    f"(?<=[{_CJK_TERMINATORS}．{_CJK_CLOSERS}])[{_CJK_CLOSERS}\"']",
]

_ZONE_LOCK = threading.Lock()

# Where a too-long paragraph may be cut, best first: a line break, a
# sentence end, any space.
_SENTENCE_END = re.compile(
    rf"[.!?][\"'”’)\]]*\s+|[{_CJK_TERMINATORS}．][{_CJK_CLOSERS}\"']*"
)


def _spacy(rule_based: bool) -> ModuleType:
    """spaCy, imported on first use. For the rule-based pipelines torch is hidden from that import: thinc,
    spaCy's machine-learning layer, imports torch whenever it is installed (as it is next to transformers),
    which costs each worker process 1.5-2 s of CPU for nothing a tokenizer and a sentencizer use. A trained
    pipeline imports spaCy as it is; one that needs torch (spacy-transformers) must then be the first spaCy use
    of its process, which a corpus job, using one kind of segmenter, always is."""
    hide_torch = rule_based and "spacy" not in sys.modules and "torch" not in sys.modules
    if hide_torch:
        sys.modules["torch"] = None  # `import torch` raises ImportError, which thinc takes for "not installed"
    try:
        import spacy.util
    finally:
        if hide_torch:
            del sys.modules["torch"]
    return spacy


@functools.lru_cache(maxsize=None)
def spacy_language(language: str) -> str:
    """The spaCy language code to segment text in `language` (a wiki or ISO
    code such as "en", "pt-BR", "simple", "zh-yue") with: the code itself
    when spacy.blank() supports it without extra packages, else "xx" (which
    is also used for Chinese and Japanese, see _CJK_LANGUAGES)."""
    code = language.strip().lower().replace("_", "-")
    code = _ALIASES.get(code, code)
    base = code.split("-", 1)[0]
    base = _ALIASES.get(base, base)
    # Only plain language codes reach importlib (spacy.blank imports
    # spacy.lang.<code>), anything else is multi-language.
    if not re.fullmatch("[a-z]{2,3}", base) or base in _CJK_LANGUAGES:
        return MULTI_LANGUAGE
    try:
        _blank_pipeline(base)
    except ImportError:
        # No such language in spaCy, or it needs a package we do not ship
        # (ko: mecab-ko, th: PyThaiNLP, vi: pyvi, ...).
        return MULTI_LANGUAGE
    return base


def _add_cjk_infixes(nlp: Language) -> None:
    infixes = list(nlp.Defaults.infixes or ()) + _CJK_INFIXES
    nlp.tokenizer.infix_finditer = _spacy(rule_based=True).util.compile_infix_regex(infixes).finditer


@functools.cache
def _blank_pipeline(code: str) -> Language:
    # One per language and process: building one (its tokenizer's rules and regexes) takes up to a second, and
    # the language check above builds it anyway. Segmenters only read it.
    nlp = _spacy(rule_based=True).blank(code)
    # Every language gets the CJK rules: quoted Chinese or Japanese inside
    # an English or Korean article must split the same way.
    _add_cjk_infixes(nlp)
    nlp.add_pipe("sentencizer")
    return nlp


def _check_model_installed(model: str) -> None:
    if _spacy(rule_based=False).util.is_package(model) or Path(model).exists():
        return
    raise ValueError(_missing_model_message(model))


def _missing_model_message(model: str) -> str:
    return (
        f"spaCy pipeline {model!r} is not installed. Install it with "
        f"`python -m spacy download {model}` (on Dataflow: in the worker "
        "container image), or leave the model unset to use the rule-based "
        "sentencizer."
    )


def _trained_pipeline(model: str) -> Language:
    """Load `model` with only the components that set sentence boundaries
    enabled (plus the embedding layers they listen to)."""
    try:
        nlp = _spacy(rule_based=False).load(model)
    except (OSError, ImportError) as error:
        raise ValueError(f"{_missing_model_message(model)} ({error})") from error
    names = nlp.component_names  # includes components disabled by default
    factories = {name: nlp.get_pipe_meta(name).factory for name in names}
    # "senter" is a small dedicated model (disabled by default in the
    # spaCy core pipelines) and much faster than the parser.
    keep = {n for n in names if factories[n] == "senter"}
    keep = keep or {n for n in names if factories[n] == "parser"}
    keep = keep or {n for n in names if factories[n] == "sentencizer"}
    if not keep:
        nlp.add_pipe("sentencizer")
        return _trained_pipeline_with(nlp, {"sentencizer"})
    return _trained_pipeline_with(nlp, keep)


def _trained_pipeline_with(nlp: Language, keep: set[str]) -> Language:
    for name in nlp.component_names:
        listeners = getattr(nlp.get_pipe(name), "listening_components", None) or ()
        if keep.intersection(listeners):
            keep.add(name)  # a shared tok2vec/transformer the kept part needs
    for name in nlp.component_names:
        if name in keep:
            nlp.enable_pipe(name)
        elif name not in nlp.disabled:
            nlp.disable_pipe(name)
    return nlp


_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def cut_text(text: str, limit: int = MAX_CHUNK_CHARS) -> Iterator[str]:
    """`text` cut into pieces of at most `limit` characters, each cut at the
    last line break, else sentence end, else space in the second half of the
    piece, else hard at `limit`. Slices only: the rest is never copied."""
    start = 0
    while len(text) - start > limit:
        window_start = start + limit // 2
        window = text[window_start : start + limit]
        cut = window.rfind("\n") + 1
        if not cut:
            last = None
            for last in _SENTENCE_END.finditer(window):
                pass
            cut = last.end() if last else window.rfind(" ") + 1
        end = window_start + cut if cut else start + limit
        yield text[start:end]
        start = end
    yield text[start:]


class SentenceSegmenter:
    """Splits paragraph-structured text into sentences.

    `model`: name (or path) of an installed trained spaCy pipeline used for
    all languages; None (default) uses a blank pipeline per language with
    the rule-based sentencizer. `batch_size`: texts per `nlp.pipe` batch.
    """

    def __init__(self, model: str | None = None, batch_size: int = 256) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if model is not None:
            # Fail on the launcher, where the user can fix it, rather than
            # on every worker.
            _check_model_installed(model)
        self.model = model
        self.batch_size = batch_size
        self._pipelines: dict[str, Language] = {}
        self._sentence_starts: dict[str, SentenceStarts] = {}

    def __getstate__(self) -> dict[str, Any]:
        # spaCy pipelines are large and not meant to be pickled; each
        # worker rebuilds its own on first use.
        state = self.__dict__.copy()
        state["_pipelines"] = {}
        state["_sentence_starts"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._pipelines = {}
        self._sentence_starts = {}

    @property
    def loaded_pipelines(self) -> Mapping[str, Language]:
        """The spaCy pipelines built so far, by model name or language (none after unpickling)."""
        return MappingProxyType(self._pipelines)

    def _pipeline(self, language: str) -> Language:
        key = self.model if self.model is not None else spacy_language(language)
        nlp = self._pipelines.get(key)
        if nlp is None:
            nlp = _trained_pipeline(key) if self.model is not None else _blank_pipeline(key)
            self._pipelines[key] = nlp
        return nlp

    def segment(self, language: str, text: str) -> list[str]:
        """Sentences of `text` (paragraphs separated by blank lines)."""
        return self.segment_many(language, [text])[0]

    def segment_many(self, language: str, texts: Sequence[str]) -> list[list[str]]:
        """Sentences of each text, all texts in `language`; a sentence never crosses a paragraph boundary.

        The rule-based sentencizer's sentences come from `SentenceStarts`, which tokenizes only the words that
        can move a boundary; pieces it does not take (irregular spacing) and trained pipelines go through one
        `nlp.pipe` stream, so that batching spans documents."""
        nlp = self._pipeline(language)
        # spaCy keeps a string and a lexeme for every distinct token it ever saw, so a worker that segments
        # gigabytes would grow without bound; what the zone adds is freed when it closes (no Doc outlives it).
        # A zone swaps the memory pool of the pipeline's vocab, which the threads of a process share (the
        # pipelines are cached per process): overlapping zones free each other's strings, so threads take turns.
        with _ZONE_LOCK, nlp.memory_zone():
            return self._segment_many(nlp, language, texts)

    def _segment_many(self, nlp: Language, language: str, texts: Sequence[str]) -> list[list[str]]:
        pieces = [(index, chunk) for index, text in enumerate(texts)
                  for paragraph in _PARAGRAPH_BREAK.split(text) if paragraph.strip()
                  for chunk in cut_text(paragraph)]
        # A trained parser/senter already handles what the merge repairs.
        rule_based = self.model is None
        starts = self._starts(language, nlp) if rule_based else None
        spans = [starts.spans(piece) if starts else None for _, piece in pieces]
        docs = nlp.pipe((piece for (_, piece), known in zip(pieces, spans) if known is None),
                        batch_size=self.batch_size)
        results: list[list[str]] = [[] for _ in texts]
        for (owner, piece), known in zip(pieces, spans):
            if known is None:
                known = [(sentence.start_char, sentence.end_char) for sentence in next(docs).sents]
            results[owner].extend(_sentences(piece, known, rule_based))
        return results

    def _starts(self, language: str, nlp: Language) -> SentenceStarts:
        key = spacy_language(language)
        starts = self._sentence_starts.get(key)
        if starts is None:
            starts = self._sentence_starts[key] = SentenceStarts(nlp)
        return starts


def _sentences(text: str, spans: Sequence[tuple[int, int]], merge_continuations: bool) -> list[str]:
    """Stripped, non-empty sentence texts of `text`, given the (start, end) offsets of its sentences.

    With `merge_continuations`, a piece the sentencizer split off is glued
    back to the sentence before when it plainly continues it: the
    sentencizer ends a sentence at every ! ? . token, which in prose mostly
    wrongly splits dialogue ("“What is his name?” said Mrs. Bennet.") and
    unknown abbreviations ("e.g. this"), so a piece starting with a
    lowercase letter continues; and in Japanese a quotation is followed by
    a particle (「窓を開けてくれる？」などと…), so a piece starting with
    hiragana right after a closing bracket continues too.
    """
    merged: list[list[int]] = []
    previous = None  # the sentence before, merged or not
    for start, end in spans:
        if merge_continuations and previous is not None:
            first = text[start:end].lstrip()[:1]
            last = text[previous[0]:previous[1]].rstrip()[-1:]
            if first.islower() or (
                first and "\u3041" <= first <= "\u309f" and last and last in _CJK_CLOSERS
            ):
                merged[-1][1] = end
                previous = start, end
                continue
        merged.append([start, end])
        previous = start, end
    return [s for s in (text[start:end].strip() for start, end in merged) if s]
