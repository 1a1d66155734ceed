"""Template rendering for the mwparserfromhell cleaner: the common value templates ({{convert}},
dates, {{lang}}, {{nowrap}}, ...) render to their text so numbers and dates stay in the sentence;
every other template is dropped, most of them before parsing (`strip_templates`)."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Callable

from pipelines.corpus.wikitext.markup_stripping import COMMENT
from pipelines.corpus.wikitext.paragraphs import WHITESPACE

if TYPE_CHECKING:
    from mwparserfromhell.nodes import Template

    from pipelines.corpus.wikitext.tree_walker import TreeWalker

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
SUPERSCRIPT = str.maketrans("0123456789-−", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁻")
SUPERSCRIPTABLE = re.compile(r"^[-−]?\d{1,2}$")
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

    def __init__(self, walker: TreeWalker, template: Template) -> None:
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
            parts[-1] += value.translate(SUPERSCRIPT)
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


def _date(walker: TreeWalker, args: _Args) -> str:
    parts = args.all()[:3] if args.positional else [
        args.key(k) for k in ("year", "month", "day")]
    return _format_date(parts, walker.language)


def _circa(walker: TreeWalker, args: _Args) -> str:
    first, second = args.get(1), args.get(2)
    if not first:
        return "c."
    return f"c. {first}–{second}" if second else f"c. {first}"


def _as_of(walker: TreeWalker, args: _Args) -> str:
    date = _format_date(args.all()[:3], walker.language)
    return f"{'as of' if args.key('lc') else 'As of'} {date}".strip()


def _quote(walker: TreeWalker, args: _Args) -> str:
    quote = args.get(1) or args.key("text") or args.key("quote")
    return f"\n\n{quote}\n\n" if quote else ""


def _reading(walker: TreeWalker, args: _Args) -> str:
    reading = args.get(2)
    return f"{args.get(1)}（{reading}）" if reading else args.get(1)


def _hour(walker: TreeWalker, args: _Args) -> str:
    hour, minute = args.get(1), args.get(2)
    return f"{hour} h {minute}" if minute else f"{hour} h"


def _first(walker: TreeWalker, args: _Args) -> str:
    return args.get(1)


def _second(walker: TreeWalker, args: _Args) -> str:
    return args.key("texte") or args.key("text") or args.get(2)


def _joined(walker: TreeWalker, args: _Args) -> str:
    return " ".join(v for v in args.all() if v)


# template name (normalized) -> renderer; every other template is dropped
_RENDERERS: dict[str, Callable[[TreeWalker, _Args], str]] = {
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
    written = COMMENT.sub("", raw).strip()
    while True:
        m = _NAME_PREFIX.match(written)
        if not m:
            break
        written = written[m.end():]
    return WHITESPACE.sub(" ", written.replace("_", " ")).strip().casefold(), written


def _is_rendered(name: str, written: str) -> bool:
    """Whether a template with this name renders to text (else it is dropped)."""
    if not name or name.startswith("#"):
        return False
    if ":" in name:  # {{formatnum:1234}}; DEFAULTSORT:, DISPLAYTITLE: are dropped
        return name.split(":", 1)[0].strip() in _MAGIC_FUNCTIONS
    return (name in _RENDERERS or name in _SYMBOLS or name in _PAGENAME
            or name.startswith(("lang-", "lang "))
            or (_ORDINAL_TEMPLATE.match(written) is not None and not written.isdigit()))


def render_template(walker: TreeWalker, template: Template) -> str:
    """The text a template renders to (its arguments rendered by `walker`); "" for a dropped template."""
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
HOLE = "\x03"  # stands for a removed template where removal would join markup


def strip_templates(text: str) -> str:
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
            out.append(HOLE)  # italics around a template must not merge
        pos = end
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)
