"""Turn the wikitext of one Wikipedia article into plain prose paragraphs.

Two cleaners share one interface (`WikitextCleaner`):

* ``mwparserfromhell`` (the default, MIT): parses the page with
  mwparserfromhell and walks the node tree. It drops what is not prose
  (templates, tables, references, files, categories, interlanguage links,
  math, code, galleries, headings, and whole sections such as "References"
  or "Weblinks"), keeps link texts, list items and emphasis contents, and
  renders the common value templates (``{{convert}}``, dates, ``{{lang}}``,
  ``{{nowrap}}``, ...) instead of deleting them, so numbers and dates stay in
  the sentence.
* ``wikiextractor``: a thin wrapper around WikiExtractor 3.1.0's own cleaning
  step (no template expansion). WikiExtractor is AGPL-3.0: it is imported
  lazily, only when that cleaner is used, and none of its code is copied here.

Both return paragraphs separated by exactly one blank line ("\\n\\n"), one
paragraph per list item, no headings. Cleaners hold no state beyond their
name, so they pickle (they travel to Beam workers). Cleaning never raises:
pathological markup falls back to a linear regex strip.
"""
from __future__ import annotations

import bisect
import html
import logging
import re
import threading
from typing import Callable, Protocol

_log = logging.getLogger(__name__)

CLEANERS = ("mwparserfromhell", "wikiextractor")
DEFAULT_CLEANER = "mwparserfromhell"


class WikitextCleaner(Protocol):
    """Turns one article's wikitext into plain paragraphs."""

    name: str

    def clean(self, wikitext: str, title: str = "", language: str = "") -> str:
        """Paragraphs separated by "\\n\\n"; each list item its own paragraph."""
        ...


def make_cleaner(name: str) -> WikitextCleaner:
    """The cleaner called `name` (one of `CLEANERS`)."""
    if name == "mwparserfromhell":
        return MwparserfromhellCleaner()
    if name == "wikiextractor":
        return WikiExtractorCleaner()
    raise ValueError(
        f"unknown wikitext cleaner {name!r}; choose one of: {', '.join(CLEANERS)}")


# ---------------------------------------------------------------------------
# Namespaces, section names and markers (small tables, lower-cased)

FILE_NAMESPACES = frozenset({
    "file", "image", "media", "datei", "bild", "fichier", "файл", "зображення",
    "изображение", "ファイル", "画像", "archivo", "imagen", "bestand",
    "afbeelding", "plik", "grafika", "ficheiro", "imagem", "arquivo",
    "immagine", "dosya", "resim", "fil", "tiedosto", "kuva", "soubor",
    "obrázok", "súbor", "kép", "fișier", "imagine", "слика", "датотека",
    "ملف", "صورة", "پرونده", "تصویر", "קובץ", "תמונה", "ไฟล์", "ภาพ",
    "文件", "檔案", "图像", "圖像", "파일", "그림", "attēls", "fails", "vaizdas",
    "failas", "податотека", "skrá", "mynd", "fitxer", "fitxategi",
    "irudi", "berkas", "gambar", "tập tin", "hình", "चित्र", "फ़ाइल",
})
CATEGORY_NAMESPACES = frozenset({
    "category", "kategorie", "catégorie", "категорія", "категория", "カテゴリ",
    "categoría", "categoria", "kategoria", "categorie",
    "kategori", "kategorija", "kategória", "kategorio", "luokka", "flokkur",
    "تصنيف", "رده", "קטגוריה", "หมวดหมู่", "分类", "分類", "분류", "thể loại",
    "श्रेणी", "категорија", "категорыя", "kateqoriya", "kategooria",
    "kategorii", "kategoreja", "kategoreje",
})
_CATEGORY_HINT = re.compile(r"categor|kategor|категор", re.IGNORECASE)
# Interlanguage/interwiki prefix as editors write it: lowercase code.
_INTERLANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,10}){0,2}$|^simple$")
_MEDIA_EXTENSION = re.compile(
    r"\.(?:jpe?g|png|gif|svg|tiff?|webp|xcf|pdf|djvu|ogg|oga|ogv|webm|mp3|"
    r"wav|flac|mid|midi|stl)\s*$", re.IGNORECASE)
_IMAGE_OPTIONS = frozenset({
    "thumb", "thumbnail", "frame", "framed", "frameless", "border", "left",
    "right", "center", "centre", "none", "upright", "baseline", "middle",
    "mini", "miniatur", "miniatura", "miniaturadeimagen", "vignette", "gauche",
    "droite", "centré", "links", "rechts", "zentriert", "rahmenlos", "hochkant",
    "мини", "миниатюра", "мініатюра", "міні", "праворуч", "ліворуч", "центр",
    "справа", "слева", "без рамки", "サムネイル", "右", "左", "中央", "ขวา",
    "ซ้าย", "กึ่งกลาง", "izquierda", "derecha", "centro",
    "miniaturka", "mały", "prawo", "lewo", "صغير", "تصغير",
    "يمين", "يسار", "مركز",
})
_IMAGE_OPTION_PATTERN = re.compile(
    r"^(?:\d*x?\d+\s*(?:px|пкс|пикс|пікс)|(?:upright|alt|link|class|lang|page|"
    r"thumb|thumbnail|mini|miniatur|vignette|мини|мініатюра|альт)\s*=.*)$",
    re.IGNORECASE | re.DOTALL)

# Sections that hold no prose; dropped with their subsections.
NON_PROSE_SECTIONS = frozenset({
    # en
    "references", "notes", "external links", "see also", "further reading",
    "bibliography", "sources", "footnotes", "citations", "works cited",
    "notes and references", "references and notes", "notes and sources",
    "sources and further reading", "external links and references",
    "references and external links", "related pages", "other websites",
    "gallery", "image gallery", "cited sources", "general references",
    "explanatory notes",
    # de
    "einzelnachweise", "weblinks", "siehe auch", "anmerkungen", "quellen",
    "fußnoten", "galerie", "quellen und anmerkungen",
    # fr
    "références", "notes et références", "liens externes", "voir aussi",
    "bibliographie", "articles connexes", "liens internes", "annexes",
    "sources et références", "références et notes",
    # uk
    "примітки", "посилання", "див. також", "джерела", "виноски", "галерея",
    "джерела та література", "примітки та джерела",
    # ru / bg
    "примечания", "ссылки", "см. также", "источники", "бележки",
    "източници", "външни препратки", "вижте също",
    # ja
    "脚注", "出典", "参考文献", "関連項目", "外部リンク", "注釈", "注", "参考資料",
    "ギャラリー", "脚注・出典", "注釈・出典",
    # es / pt / it / nl / pl
    "referencias", "enlaces externos", "véase también", "notas", "bibliografía",
    "fuentes", "galería", "referências", "ligações externas", "ver também",
    "note", "bibliografia", "collegamenti esterni", "voci correlate",
    "bronnen", "referenties", "externe links", "zie ook", "noten",
    "przypisy", "linki zewnętrzne", "zobacz też",
    # ar
    "المراجع", "مراجع", "وصلات خارجية", "انظر أيضا", "انظر أيضًا", "مصادر",
    "المصادر", "هوامش", "معرض صور", "روابط خارجية", "ملاحظات",
    # th
    "อ้างอิง", "แหล่งข้อมูลอื่น", "ดูเพิ่ม", "เชิงอรรถ", "หนังสืออ่านเพิ่ม",
    "แหล่งอ้างอิง", "ดูเพิ่มเติม",
})
# "Literature" is a bibliography in de/uk/ru but a prose subsection of a
# country's culture: dropped only as a top-level (==) section.
AMBIGUOUS_SECTIONS = frozenset({"literatur", "література", "литература", "literature"})

# Residue markers the cleaners must not leave (tests and the benchmark).
RESIDUE_MARKERS = ("{{", "}}", "[[", "]]", "<ref", "{|", "|}", "&nbsp;", "'''",
                   "==", "thumb|")
_RESIDUE_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")
_RESIDUE_CATEGORY = re.compile(
    r"(?:%s)\s*:" % "|".join(sorted((re.escape(n) for n in CATEGORY_NAMESPACES),
                                    key=len, reverse=True)), re.IGNORECASE)


def markup_residue(text: str) -> int:
    """How many markup leftovers `text` holds: `RESIDUE_MARKERS`, category
    prefixes, HTML-like tags and "|" characters (each counted separately)."""
    count = sum(text.count(marker) for marker in RESIDUE_MARKERS)
    count += len(_RESIDUE_CATEGORY.findall(text))
    count += len(_RESIDUE_TAG.findall(text))
    return count + text.count("|")


# ---------------------------------------------------------------------------
# Paragraph assembly and tidying, shared by both cleaners

_LIST = "\x02"  # starts a line that is one list item (its own paragraph)
_WHITESPACE = re.compile(r"[ \t\r\f\v\xa0\u2000-\u200b\u202f\u205f\u3000]+")
_EMPTY_PARENS = re.compile(r"[(（]\s*(?:[,;:、，；・/–\-]\s*)*[)）]")
_OPEN_PAREN_JUNK = re.compile(r"([(（])\s*(?:[,;、，；]\s*)+")
_CLOSE_PAREN_JUNK = re.compile(r"(?:\s*[,;、，；])+\s*([)）])")
_SPACE_BEFORE = re.compile(r"\s+([,.)\]、。，．）])")
_SPACE_BEFORE_STRONG = re.compile(r"\s+([;:!?；：！？])")
_SPACE_AFTER_OPEN = re.compile(r"([(\[（])\s+")
_DOUBLE_COMMA = re.compile(r",(?:\s*,)+")
_COMMA_BEFORE_STOP = re.compile(r"[,;]\s*([.。])")
_APOSTROPHES = re.compile(r"'{2,}")
_MAGIC_WORD = re.compile(r"__(?:(?!__)[^\W\da-z])+__")
_TABLE_LINE = re.compile(r"^[ \t:]*(?:\{\||\|).*$", re.MULTILINE)
_ENTITY = re.compile(r"&(?:[A-Za-z][A-Za-z0-9]{1,7}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});")
_STRAY_LINK = re.compile(r"\[\[(?:[^\[\]|]*\|)?([^\[\]]*)\]\]")


def _tidy(paragraph: str, language: str) -> str:
    """Removes residue left where markup was removed from one paragraph."""
    text = _WHITESPACE.sub(" ", paragraph).strip()
    if not text:
        return ""
    if "(" in text or "（" in text:
        for _ in range(3):
            before = text
            text = _OPEN_PAREN_JUNK.sub(r"\1", text)
            text = _CLOSE_PAREN_JUNK.sub(r"\1", text)
            text = _EMPTY_PARENS.sub("", text)
            if text == before:
                break
    text = _SPACE_BEFORE.sub(r"\1", text)
    if not language.startswith("fr"):  # French puts a space before ; : ! ?
        text = _SPACE_BEFORE_STRONG.sub(r"\1", text)
    text = _SPACE_AFTER_OPEN.sub(r"\1", text)
    text = _DOUBLE_COMMA.sub(",", text)
    text = _COMMA_BEFORE_STOP.sub(r"\1", text)
    text = _WHITESPACE.sub(" ", text).strip()
    text = text.lstrip(",;:、，").strip()
    if not any(ch.isalnum() for ch in text):
        return ""  # only punctuation left
    return text


def _assemble(rendered: str, language: str) -> str:
    """Rendered text -> paragraphs: blank lines separate paragraphs, a list
    line is a paragraph of its own, other lines of a paragraph are joined."""
    paragraphs: list[str] = []
    current: list[str] = []

    def flush() -> None:
        if current:
            text = _tidy(" ".join(current), language)
            if text:
                paragraphs.append(text)
            current.clear()

    for line in rendered.split("\n"):
        if line.startswith(_LIST):
            flush()
            text = _tidy(line.replace(_LIST, " "), language)
            if text:
                paragraphs.append(text)
        elif not line.strip():
            flush()
        else:
            current.append(line)
    flush()
    return "\n\n".join(paragraphs)


# ---------------------------------------------------------------------------
# Linear pre-pass and regex fallback (no recursion, no backtracking blow-ups)

_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
# Extension tags whose whole element is dropped. Like MediaWiki's
# preprocessor, an element runs to the first matching close tag; <nowiki>
# spans are kept verbatim (their content is not markup).
_DROPPED_ELEMENTS = (
    "ref", "references", "math", "chem", "ce", "gallery", "timeline",
    "syntaxhighlight", "source", "pre", "code", "score", "imagemap", "mapframe",
    "maplink", "graph", "templatedata", "templatestyles", "inputbox",
    "categorytree", "hiero", "includeonly", "charinsert", "indicator")
_ELEMENT_NAMES = "|".join(("nowiki",) + _DROPPED_ELEMENTS)
_ELEMENT_OPEN = re.compile(
    r"<!--|<(%s)(?=[\s/>])[^<>]*?(/?)>" % _ELEMENT_NAMES, re.IGNORECASE)
_ELEMENT_CLOSE = re.compile(r"</(%s)\s*>" % _ELEMENT_NAMES, re.IGNORECASE)
# Tables open with "{|" and close with "|}" at the start of a line ("|}}" at
# a line start closes a template instead).
_TABLE_TOKEN = re.compile(r"^[ \t:]*(\{\|)|^[ \t]*\|\}(?!\})", re.MULTILINE)
_ANY_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_HEADING_LINE = re.compile(r"^\s*=+.*?=+\s*$", re.MULTILINE)
_EXT_LINK = re.compile(r"\[(?:https?:|ftp:)?//[^\s\[\]]+[ \t]*([^\[\]\n]*)\]")
_BARE_URL = re.compile(r"(?:https?|ftp)://\S+")
_NOWIKI = re.compile(r"<nowiki\s*>(.*?)</nowiki\s*>", re.DOTALL | re.IGNORECASE)


def _strip_elements(text: str) -> str:
    """Removes comments and dropped extension elements (<ref>, <math>,
    <gallery>, ...) in one left-to-right pass; keeps <nowiki> spans. An
    element that is never closed loses only its open tag."""
    if "<" not in text:
        return text
    closes: dict[str, list[int]] = {}
    for m in _ELEMENT_CLOSE.finditer(text):
        closes.setdefault(m.group(1).lower(), []).append(m.start())
    out, pos = [], 0
    m = _ELEMENT_OPEN.search(text)
    while m:
        start = m.start()
        if m.group(1) is None:  # comment
            end = text.find("-->", m.end())
            end = len(text) if end < 0 else end + 3
            out.append(text[pos:start])
            pos = end
        else:
            name = m.group(1).lower()
            positions = closes.get(name, ())
            k = bisect.bisect_left(positions, m.end()) if not m.group(2) else len(positions)
            if k < len(positions):
                end = text.index(">", positions[k]) + 1
                if name == "nowiki":
                    out.append(text[pos:end])
                else:
                    out.append(text[pos:start])
                pos = end
            else:  # self-closing (<ref name=x/>) or never closed
                out.append(text[pos:start])
                pos = m.end()
        m = _ELEMENT_OPEN.search(text, pos)
    out.append(text[pos:])
    return "".join(out)


def _strip_tables(text: str) -> str:
    """Removes balanced line-anchored tables ("{|" .. "|}"), nested ones
    included; an unbalanced table is left to the parser."""
    if "{|" not in text:
        return text
    spans: list[tuple[int, int]] = []
    stack: list[int] = []
    for m in _TABLE_TOKEN.finditer(text):
        if m.group(1):
            stack.append(m.start(1))
        elif stack:
            start = stack.pop()
            if not stack:
                spans.append((start, m.end()))
    if not spans:
        return text
    out, pos = [], 0
    for start, end in spans:
        out.append(text[pos:start])
        out.append("\n\n")
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _drop_nested(text: str, open_delim: str, close_delim: str) -> str:
    """Removes balanced `open_delim`..`close_delim` spans (nesting allowed)
    and unmatched delimiters, in one linear pass."""
    if open_delim not in text and close_delim not in text:
        return text
    token = re.compile(re.escape(open_delim) + "|" + re.escape(close_delim))
    spans: list[tuple[int, int]] = []
    stack: list[int] = []
    for m in token.finditer(text):
        if m.group() == open_delim:
            stack.append(m.start())
        elif stack:
            spans.append((stack.pop(), m.end()))
        else:
            spans.append((m.start(), m.end()))  # unmatched close
    spans.extend((start, start + len(open_delim)) for start in stack)
    spans.sort()
    out, pos = [], 0
    for start, end in spans:
        if start >= pos:
            out.append(text[pos:start])
            pos = end
        elif end > pos:
            pos = end
    out.append(text[pos:])
    return "".join(out)


def _internal_link_text(m: re.Match) -> str:
    inner = m.group(1)
    target, _, label = inner.partition("|")
    prefix = target.split(":", 1)[0].strip().lower() if ":" in target else ""
    if prefix and (prefix in FILE_NAMESPACES or prefix in CATEGORY_NAMESPACES
                   or _INTERLANGUAGE.match(target.split(":", 1)[0].strip())):
        return ""
    if "|" in label:
        return ""  # image-style options
    return label or target


def regex_strip(wikitext: str, language: str = "") -> str:
    """Crude, linear-time cleaning used when parsing fails. Never raises."""
    try:
        text = _strip_elements(wikitext)
        text = _NOWIKI.sub(r"\1", text)
        text = _drop_nested(text, "{{", "}}")
        text = _drop_nested(text, "{|", "|}")
        text = _EXT_LINK.sub(r"\1", text)
        # innermost links first; a link that still nests after a few rounds
        # is dropped with its brackets
        for _ in range(3):
            text = re.sub(r"\[\[([^\[\]]*)\]\]", _internal_link_text, text)
        text = _drop_nested(text, "[[", "]]")
        text = _BARE_URL.sub("", text)
        text = _ANY_TAG.sub("", text)
        text = _HEADING_LINE.sub("\n", text)
        text = _MAGIC_WORD.sub("", text)
        text = _APOSTROPHES.sub("", text)
        text = html.unescape(text)
        text = re.sub(r"^[*#:;]+", _LIST, text, flags=re.MULTILINE)
        text = text.replace("[", "").replace("]", "").replace("{", "").replace("}", "")
        return _assemble(text, language)
    except Exception:  # noqa: BLE001 - must never fail a job on one page
        _log.warning("regex_strip failed", exc_info=True)
        return ""


def _scrub(text: str) -> str:
    """Last-resort removal of markup the parser left as plain text
    (unbalanced or malformed constructs)."""
    if _HOLE in text:
        text = text.replace(_HOLE, "")
    if "{{" in text or "}}" in text:
        text = _drop_nested(text, "{{", "}}")
    if "{|" in text or "\n|" in text:  # rows of tables the parser left as text
        text = _TABLE_LINE.sub("", text)
    if "{|" in text or "|}" in text:
        text = _drop_nested(text, "{|", "|}")
    if "[[" in text or "]]" in text:
        text = _STRAY_LINK.sub(lambda m: m.group(1).rpartition("|")[2], text)
        text = text.replace("[[", "").replace("]]", "")
    if "''" in text:
        text = _APOSTROPHES.sub("", text)
    if "==" in text:
        text = re.sub(r"={2,}", "", text)
    if "&" in text:  # entities written double-escaped or left in raw text
        text = _ENTITY.sub(lambda m: html.unescape(m.group()), text)
    if "<" in text:  # stray or unparsed tags (e.g. an unmatched </div>)
        text = _RESIDUE_TAG.sub("", text)
    return text


# ---------------------------------------------------------------------------
# Template rendering (mwparserfromhell cleaner)

_MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July",
              "August", "September", "October", "November", "December")
_UNIT_DISPLAY = {
    "km2": "km²", "m2": "m²", "cm2": "cm²", "mm2": "mm²", "km3": "km³",
    "m3": "m³", "cm3": "cm³", "sqmi": "sq mi", "sqft": "sq ft", "sqkm": "km²",
    "mi2": "sq mi", "ft2": "sq ft", "cuft": "cu ft", "cumi": "cu mi",
    "c": "°C", "f": "°F", "degc": "°C", "degf": "°F", "k": "K",
    "kmh": "km/h", "km/h": "km/h", "mph": "mph", "kn": "kn",
    "m/s": "m/s", "l": "L", "usgal": "US gal", "impgal": "imp gal",
    "acre": "acres", "ha": "ha", "e6km2": "million km²", "e6sqmi": "million sq mi",
    "e3km2": "thousand km²",
}
_RANGE_WORDS = {
    "-": "–", "–": "–", "&ndash;": "–", "to": " to ", "to(-)": " to ",
    "and": " and ", "and(-)": " and ", "or": " or ", "by": " by ",
    "x": " × ", "×": " × ", "+": " + ", "+/-": " ± ", "±": " ± ",
    "to about": " to about ", "-to-": " to ",
}
_SUPERSCRIPT = str.maketrans("0123456789-−", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁻")
_SUPERSCRIPTABLE = re.compile(r"^[-−]?\d{1,2}$")
_CURRENCY = {"us$": "US$", "usd": "US$", "€": "€", "eur": "€", "£": "£",
             "gbp": "£", "¥": "¥", "jpy": "¥", "inr": "₹", "₹": "₹",
             "a$": "A$", "aud": "A$", "ca$": "CA$", "cad": "CA$"}
_ORDINAL_TEMPLATE = re.compile(
    r"^(?:\d+|[IVXLCDM]+)?(?:e|er|re|ère|ers|res|ème|nd|nde)$")
_DATE_TEMPLATES = frozenset({
    "birth date", "birth date and age", "bda", "death date",
    "death date and age", "dda", "start date", "start date and age",
    "end date", "end date and age", "dts", "birth-date", "death-date",
    "film date", "release date", "birth year and age", "death year and age",
})
_FIRST_ARG = frozenset({
    "nowrap", "nobr", "nowr", "nobreak", "small", "smaller", "big", "larger",
    "nobold", "noitalic", "abbr", "abbrlink", "sic", "visible anchor", "ruby",
    "仮リンク", "ill", "illm", "interlanguage link", "interlanguage link multi",
    "ill2", "не перекладено", "нп", "не переведено", "latin", "math",
    "mvar", "sub", "sup", "lang-de-short", "lang-en-short", "lang-fr-short",
    "lang-es-short", "comment", "tooltip", "keypress", "highlight",
    "em", "strong", "var", "kbd", "serif", "sans-serif", "proper name",
    "notatypo", "not a typo",
    "vanchor", "term", "overline", "underline", "strikethrough",
    "smallcaps", "sc", "small caps",
})
_SECOND_ARG = frozenset({"lang", "langue", "en langue", "color", "colour",
                         "script", "wikt-lang"})
_JOIN_ARGS = frozenset({"nombre", "num", "date", "date-", "tmp",
                        "nombre romain", "formatnum", "dunité", "linktext"})
_QUOTE_TEMPLATES = frozenset({"quote", "cquote", "blockquote", "quotation",
                              "цитата", "citation bloc", "début citation"})
_SYMBOLS = {
    "'": "'", '"': '"', "'s": "'s", "snd": " – ", "spaced ndash": " – ",
    "spnd": " – ", "ndash": "–", "mdash": "—", "nbsp": " ", "thinsp": " ",
    "nnbsp": " ", "=": "=", "·": " · ", "dot": " · ", "•": " • ",
    "bull": " • ", "etc.": "etc.", "...": "…", "ellipsis": "…",
    "e": "e", "er": "er", "1er": "1er", "1re": "1re", "ier": "Ier",
}


class _Args:
    """Positional and named parameters of one template, rendered lazily."""

    __slots__ = ("_walker", "positional", "named")

    def __init__(self, walker: "_Walker", template) -> None:
        self._walker = walker
        self.positional: dict[int, object] = {}
        self.named: dict[str, object] = {}
        position = 0
        for param in template.params:
            if param.showkey:
                key = str(param.name).strip()
                if key.isdigit():
                    self.positional[int(key)] = param.value
                else:
                    self.named[key.casefold()] = param.value
            else:
                position += 1
                self.positional[position] = param.value

    def __len__(self) -> int:
        return max(self.positional, default=0)

    def get(self, i: int) -> str:
        value = self.positional.get(i)
        return "" if value is None else self._walker.inline(value)

    def key(self, name: str) -> str:
        value = self.named.get(name)
        return "" if value is None else self._walker.inline(value)

    def all(self) -> list[str]:
        return [self.get(i) for i in range(1, len(self) + 1)]


def _int(text: str) -> int | None:
    text = text.strip()
    return int(text) if re.fullmatch(r"-?\d{1,4}", text) else None


def _format_date(parts: list[str], language: str) -> str:
    """year, month, day (strings) -> "5 March 1950" (en) / "1950-03-05"."""
    parts = [p.strip() for p in parts if p.strip()]
    if not parts:
        return ""
    year = _int(parts[0])
    month = _int(parts[1]) if len(parts) > 1 else None
    day = _int(parts[2]) if len(parts) > 2 else None
    if year is None or (len(parts) > 1 and not (month and 1 <= month <= 12)) or (
            len(parts) > 2 and not (day and 1 <= day <= 31)):
        return " ".join(parts)  # free text such as "July 4, 1776"
    english = language.startswith("en")
    if month is None:
        return str(year)
    if day is None:
        return f"{_MONTHS_EN[month - 1]} {year}" if english else f"{year:04d}-{month:02d}"
    if english:
        return f"{day} {_MONTHS_EN[month - 1]} {year}"
    return f"{year:04d}-{month:02d}-{day:02d}"


def _render_convert(args: _Args) -> str:
    values = args.all()
    if not values or not values[0]:
        return ""
    text = values[0]
    i = 1
    while i + 1 < len(values) and values[i].strip().lower() in _RANGE_WORDS:
        text += _RANGE_WORDS[values[i].strip().lower()] + values[i + 1]
        i += 2
    unit = values[i].strip() if i < len(values) else ""
    unit = _UNIT_DISPLAY.get(unit.lower(), unit)
    return f"{text} {unit}" if unit else text


def _render_unite(args: _Args) -> str:
    values = [v for v in args.all() if v]
    if not values:
        return ""
    parts = [values[0]]
    for value in values[1:]:
        if re.fullmatch(r"-?\d", value) and len(parts) > 1:
            parts[-1] += value.translate(_SUPERSCRIPT)
        else:
            parts.append(value)
    return " ".join(parts)


def _render_frac(args: _Args) -> str:
    values = [v for v in args.all() if v]
    if len(values) == 1:
        return f"1/{values[0]}"
    if len(values) == 2:
        return f"{values[0]}/{values[1]}"
    if len(values) >= 3:
        return f"{values[0]} {values[1]}/{values[2]}"
    return ""


def _date(walker: "_Walker", args: _Args) -> str:
    parts = args.all()[:3] if args.positional else [
        args.key(k) for k in ("year", "month", "day")]
    return _format_date(parts, walker.language)


def _circa(walker: "_Walker", args: _Args) -> str:
    first, second = args.get(1), args.get(2)
    if not first:
        return "c."
    return f"c. {first}–{second}" if second else f"c. {first}"


def _as_of(walker: "_Walker", args: _Args) -> str:
    date = _format_date(args.all()[:3], walker.language)
    return f"{'as of' if args.key('lc') else 'As of'} {date}".strip()


def _quote(walker: "_Walker", args: _Args) -> str:
    quote = args.get(1) or args.key("text") or args.key("quote")
    return f"\n\n{quote}\n\n" if quote else ""


def _reading(walker: "_Walker", args: _Args) -> str:
    reading = args.get(2)
    return f"{args.get(1)}（{reading}）" if reading else args.get(1)


def _hour(walker: "_Walker", args: _Args) -> str:
    hour, minute = args.get(1), args.get(2)
    return f"{hour} h {minute}" if minute else f"{hour} h"


def _first(walker: "_Walker", args: _Args) -> str:
    return args.get(1)


def _second(walker: "_Walker", args: _Args) -> str:
    return args.key("texte") or args.key("text") or args.get(2)


def _joined(walker: "_Walker", args: _Args) -> str:
    return " ".join(v for v in args.all() if v)


# template name (normalized) -> renderer; every other template is dropped
_RENDERERS: dict[str, Callable[["_Walker", _Args], str]] = {
    **dict.fromkeys(("convert", "cvt", "convert/2"), lambda w, a: _render_convert(a)),
    **dict.fromkeys(_DATE_TEMPLATES, _date),
    **dict.fromkeys(("circa", "c.", "ca.", "ca", "circa."), _circa),
    **dict.fromkeys(("as of", "asof"), _as_of),
    **{name: (lambda w, a, s=symbol: s + a.get(1)) for name, symbol in _CURRENCY.items()},
    "euro": lambda w, a: f"{a.get(1)} €",
    **dict.fromkeys(("frac", "sfrac", "fraction", "fract"), lambda w, a: _render_frac(a)),
    "val": lambda w, a: f"{a.get(1)} {a.key('u') or a.key('ul')}".strip(),
    **dict.fromkeys(_FIRST_ARG, _first),
    **dict.fromkeys(_SECOND_ARG, _second),
    **dict.fromkeys(("transl", "transliteration", "translit"), lambda w, a: a.get(len(a))),
    "lien": lambda w, a: a.key("fr") or a.get(1),
    "unité": lambda w, a: _render_unite(a),
    **dict.fromkeys(_JOIN_ARGS, _joined),
    "heure": _hour,
    **dict.fromkeys(("s", "siècle"), lambda w, a: f"{a.get(1)}e siècle"),
    "s-": lambda w, a: f"{a.get(1)}e",
    "incise": lambda w, a: f"— {a.get(1)} —",
    "読み仮名": _reading,
    **dict.fromkeys(_QUOTE_TEMPLATES, _quote),
}
_PAGENAME = frozenset({"pagename", "fullpagename", "pagenamee", "basepagename",
                       "subpagename", "articlename"})
_MAGIC_FUNCTIONS: dict[str, Callable[[str], str]] = {
    "formatnum": lambda v: v, "lc": str.lower, "uc": str.upper,
    "lcfirst": lambda v: v[:1].lower() + v[1:],
    "ucfirst": lambda v: v[:1].upper() + v[1:],
}
_NAME_PREFIX = re.compile(
    r"^\s*(?:template|шаблон|modèle|vorlage|plantilla|subst|safesubst|msgnw)\s*:\s*",
    re.IGNORECASE)


def _template_name(raw: str) -> tuple[str, str]:
    """(normalized, as written) name of a template call, namespace removed."""
    written = _COMMENT.sub("", raw).strip()
    while True:
        m = _NAME_PREFIX.match(written)
        if not m:
            break
        written = written[m.end():]
    return _WHITESPACE.sub(" ", written.replace("_", " ")).strip().casefold(), written


def _is_rendered(name: str, written: str) -> bool:
    """Whether a template with this name renders to text (else it is dropped)."""
    if not name or name.startswith("#"):
        return False
    if ":" in name:  # {{formatnum:1234}}; DEFAULTSORT:, DISPLAYTITLE: are dropped
        return name.split(":", 1)[0].strip() in _MAGIC_FUNCTIONS
    return (name in _RENDERERS or name in _SYMBOLS or name in _PAGENAME
            or name.startswith(("lang-", "lang "))
            or (_ORDINAL_TEMPLATE.match(written) is not None and not written.isdigit()))


def _render_template(walker: "_Walker", template) -> str:
    name, written = _template_name(str(template.name))
    if not _is_rendered(name, written):
        return ""
    if ":" in name:
        value = walker.inline(template.name)
        value = value.split(":", 1)[1].strip() if ":" in value else ""
        return _MAGIC_FUNCTIONS[name.split(":", 1)[0].strip()](value)
    if name in _PAGENAME:
        return walker.title
    if name in _SYMBOLS:
        return _SYMBOLS[name]
    args = _Args(walker, template)
    renderer = _RENDERERS.get(name)
    if renderer is not None:
        return renderer(walker, args)
    if name.startswith(("lang-", "lang ")):
        return args.get(1)
    following = args.get(1)  # ordinal: {{1er}}, {{XIXe}}, {{84e|Congrès}}
    return f"{written} {following}" if following else written


_BRACES = re.compile(r"\{\{|\}\}")
_HOLE = "\x03"  # stands for a removed template where removal would join markup


def _strip_templates(text: str) -> str:
    """Removes, before parsing, top-level templates that would be dropped
    anyway (infoboxes, citations, navboxes: most of a page's markup), so the
    parser builds far fewer nodes. Anything unusual ({{{arguments}}},
    unbalanced braces, templates in template names) is left to the parser."""
    if "{{" not in text:
        return text
    spans: list[tuple[int, int]] = []
    stack: list[int] = []
    for m in _BRACES.finditer(text):
        if m.group() == "{{":
            stack.append(m.start())
        elif stack:
            start = stack.pop()
            if not stack:
                spans.append((start, m.end()))
    out, pos = [], 0
    for start, end in spans:
        if text.startswith("}", end) or (start and text[start - 1] == "{"):
            continue
        pipe = text.find("|", start + 2, end - 2)
        raw = text[start + 2:end - 2 if pipe < 0 else pipe]
        if "{" in raw or "[" in raw or _is_rendered(*_template_name(raw)):
            continue
        out.append(text[pos:start])
        if text.startswith("'", end) and text.endswith("'", 0, start):
            out.append(_HOLE)  # italics around a template must not merge
        pos = end
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


# ---------------------------------------------------------------------------
# The tree walker (mwparserfromhell cleaner)

_DROP_TAGS = frozenset({
    "ref", "references", "math", "chem", "ce", "gallery", "timeline",
    "syntaxhighlight", "source", "pre", "code", "score", "imagemap", "mapframe",
    "maplink", "graph", "templatedata", "templatestyles", "inputbox",
    "categorytree", "hiero", "includeonly", "table", "caption",
    "indicator", "charinsert", "section", "rt", "rp", "style", "script",
    "img", "dynamicpagelist", "poll", "tabs", "phonos", "chart",
})
_BLOCK_TAGS = frozenset({"p", "div", "center", "blockquote", "ul", "ol", "dl",
                         "h1", "h2", "h3", "h4", "h5", "h6", "tr", "poem"})
_LIST_TAGS = frozenset({"li", "dt", "dd"})


def _heading_key(title: str) -> str:
    key = _WHITESPACE.sub(" ", title).strip().casefold()
    return key.rstrip(" :.：")


class _Walker:
    """Renders a mwparserfromhell tree to text with list/paragraph marks."""

    def __init__(self, title: str, language: str) -> None:
        import mwparserfromhell.nodes as nodes

        self.title = title
        self.language = language
        self._skip_level = 0  # > 0 while inside a dropped section
        self._heading_type = nodes.Heading
        self._handlers: dict[type, Callable] = {
            nodes.Text: self._text,
            nodes.Wikilink: self._wikilink,
            nodes.Template: self._template,
            nodes.Tag: self._tag,
            nodes.Heading: self._heading,
            nodes.Comment: lambda node: "",
            nodes.ExternalLink: self._external_link,
            nodes.HTMLEntity: self._entity,
            nodes.Argument: self._argument,
        }

    # -- whole documents and inline fragments
    def render(self, wikicode) -> str:
        out = []
        handlers = self._handlers
        for node in wikicode.nodes:
            if self._skip_level and type(node) is not self._heading_type:
                continue
            handler = handlers.get(type(node))
            if handler is not None:
                out.append(handler(node))
        return "".join(out)

    def inline(self, wikicode) -> str:
        """A template argument or link text: rendered, on one line."""
        skip, self._skip_level = self._skip_level, 0
        try:
            text = self.render(wikicode)
        finally:
            self._skip_level = skip
        return _WHITESPACE.sub(" ", text.replace(_LIST, " ").replace("\n", " ")).strip()

    # -- node handlers
    def _text(self, node) -> str:
        value = node.value
        if "__" in value:
            value = _MAGIC_WORD.sub("", value)
        return value

    def _entity(self, node) -> str:
        try:
            return node.normalize()
        except (ValueError, OverflowError):
            return ""

    def _argument(self, node) -> str:
        return self.render(node.default) if node.default is not None else ""

    def _heading(self, node) -> str:
        level = node.level
        if self._skip_level and level > self._skip_level:
            return ""
        self._skip_level = 0
        key = _heading_key(self.inline(node.title))
        if key in NON_PROSE_SECTIONS or (key in AMBIGUOUS_SECTIONS and level <= 2):
            self._skip_level = level
        return "\n\n"

    def _external_link(self, node) -> str:
        if node.brackets and node.title is not None:
            return self.render(node.title)
        return ""

    def _template(self, node) -> str:
        return _render_template(self, node)

    def _wikilink(self, node) -> str:
        target = str(node.title).strip()
        text = node.text
        if ":" in target and not target.startswith(":"):  # ":" = shown as a link
            prefix = target.split(":", 1)[0].strip()
            folded = prefix.replace("_", " ").casefold()
            if (folded in FILE_NAMESPACES or folded in CATEGORY_NAMESPACES
                    or _INTERLANGUAGE.match(prefix)
                    or (_CATEGORY_HINT.search(folded) and text is None)
                    or self._looks_like_file(target, text)):
                return ""
        if text is not None:
            rendered = self.render(text)
            if rendered.strip():
                return rendered
            return re.sub(r"\s*\([^()]*\)$", "", self._link_title(node))  # pipe trick
        return self._link_title(node)

    def _link_title(self, node) -> str:
        """The text MediaWiki shows for [[Title]]: the title as written,
        minus a leading ":" and, for [[:Category:X]], the namespace."""
        shown = self.inline(node.title).lstrip(":").strip()
        prefix, colon, rest = shown.partition(":")
        if colon and prefix.strip().replace("_", " ").casefold() in CATEGORY_NAMESPACES:
            return rest.strip()
        return shown

    @staticmethod
    def _looks_like_file(target: str, text) -> bool:
        if _MEDIA_EXTENSION.search(target):
            return True
        if text is None:
            return False
        options = str(text).split("|")
        return len(options) > 1 and any(
            option.strip().casefold() in _IMAGE_OPTIONS
            or _IMAGE_OPTION_PATTERN.match(option.strip()) for option in options[:-1])

    def _tag(self, node) -> str:
        markup = node.wiki_markup
        if markup:
            if markup in ("''", "'''", "'''''"):
                return self.render(node.contents) if node.contents is not None else ""
            if markup in ("*", "#", ";", ":"):
                return "\n" + _LIST
            if markup.startswith("{|"):
                return "\n\n"
            if markup.startswith("-"):  # ----
                return "\n\n"
        name = str(node.tag).strip().casefold()
        if name in _DROP_TAGS:
            return "\n\n" if name == "table" else ""
        if name in ("br", "wbr"):
            return " "
        if name == "hr":
            return "\n\n"
        if node.self_closing or node.contents is None:
            return ""
        if name == "nowiki":
            return html.unescape(str(node.contents))
        inner = self.render(node.contents)
        if name in _LIST_TAGS:
            return "\n" + _LIST + inner + "\n"
        if name in _BLOCK_TAGS:
            return "\n\n" + inner + "\n\n"
        if name == "sup" and _SUPERSCRIPTABLE.match(inner):
            return inner.translate(_SUPERSCRIPT)
        return inner


# Inputs that make the parsers crawl (thousands of unclosed openers; real
# articles have at most ~1,000 unclosed "<", from <br>) go straight to the
# linear regex fallback.
MAX_UNBALANCED = 2000


def _pathological(text: str, limit: int = MAX_UNBALANCED) -> bool:
    return (abs(text.count("{{") - text.count("}}")) > limit
            or abs(text.count("[[") - text.count("]]")) > limit
            or text.count("<") - text.count("</") - text.count("/>") > 2 * limit
            or text.count("{|") - text.count("|}") > limit
            or text.count("[") - text.count("]") > limit
            or text.count("<!--") - text.count("-->") > limit)


class MwparserfromhellCleaner:
    """Cleans wikitext by walking mwparserfromhell's node tree (MIT)."""

    name = "mwparserfromhell"

    def clean(self, wikitext: str, title: str = "", language: str = "") -> str:
        """Plain paragraphs of one article. `title` fills {{PAGENAME}};
        `language` (wiki language code) picks date rendering ("5 March 1950"
        for "en", ISO "1950-03-05" otherwise, also when unknown) and keeps
        French spacing before ; : ! ?. Never raises."""
        if not wikitext:
            return ""
        try:
            if not isinstance(wikitext, str):
                wikitext = str(wikitext)
            language = (language or "").casefold()
            if "\x00" in wikitext:  # the C tokenizer stops at NUL
                wikitext = wikitext.replace("\x00", "")
            if _pathological(wikitext):
                return regex_strip(wikitext, language)
            return self._clean(wikitext, title or "", language)
        except RecursionError:
            _log.debug("recursion limit while cleaning %r; regex fallback", title)
            return regex_strip(wikitext, language or "")
        except Exception:  # noqa: BLE001 - one bad page must never fail a job
            _log.warning("cleaning %r failed; regex fallback", title, exc_info=True)
            return regex_strip(wikitext, language or "")

    @staticmethod
    def _clean(wikitext: str, title: str, language: str) -> str:
        import mwparserfromhell

        text = _strip_templates(_strip_tables(_strip_elements(wikitext)))
        code = mwparserfromhell.parse(text)
        rendered = _Walker(title, language).render(code)
        return _assemble(_scrub(rendered), language)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


# ---------------------------------------------------------------------------
# WikiExtractor wrapper (AGPL-3.0; imported lazily, never copied)

class WikiExtractorCleaner:
    """Cleans wikitext with WikiExtractor 3.1.0 (no template expansion)."""

    name = "wikiextractor"

    def clean(self, wikitext: str, title: str = "", language: str = "") -> str:
        if not wikitext:
            return ""
        try:
            wikitext = str(wikitext)
            if _pathological(wikitext):
                return regex_strip(wikitext, language or "")
            lines = self._extract(wikitext, title or "")
        except RecursionError:
            return regex_strip(wikitext, language or "")
        except Exception:  # noqa: BLE001 - one bad page must never fail a job
            _log.warning("wikiextractor failed on %r; regex fallback", title,
                         exc_info=True)
            return regex_strip(wikitext, language or "")
        paragraphs = (_WHITESPACE.sub(" ", line).strip() for line in lines)
        return "\n\n".join(p for p in paragraphs if p)

    @staticmethod
    def _extract(wikitext: str, title: str) -> list[str]:
        extract = _wikiextractor()
        extractor = extract.Extractor(
            0, "", "", title, [], keepSections=False,
            ignored_tag_patterns=_wikiextractor_ignored_tags())
        return extractor.clean_text(wikitext, mark_headers=False,
                                    expand_templates=False, html_safe=False)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


_WIKIEXTRACTOR_LOCK = threading.Lock()
_WIKIEXTRACTOR_IGNORED: list = []  # built on first use, once per process


def _wikiextractor():
    """The lazily imported `wikiextractor.extract` module, its loggers muted."""
    from wikiextractor import extract

    for name in ("wikiextractor", "wikiextractor.extract"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    return extract


def _wikiextractor_ignored_tags() -> list | None:
    """WikiExtractor's default ignored tags plus <a>, as its own CLI and
    `clean_markup` use them without --links (None: its built-in default)."""
    with _WIKIEXTRACTOR_LOCK:
        if not _WIKIEXTRACTOR_IGNORED:
            extract = _wikiextractor()
            defaults = getattr(extract, "_DEFAULT_IGNORED_TAG_PATTERNS", None)
            if defaults is None:
                return None
            _WIKIEXTRACTOR_IGNORED.extend(defaults)
            _WIKIEXTRACTOR_IGNORED.append(extract.ignoreTag("a"))
        return _WIKIEXTRACTOR_IGNORED
