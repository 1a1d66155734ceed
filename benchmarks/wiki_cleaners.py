"""Wikitext cleaners side by side: how much text each keeps, how much markup
it leaves, how fast it runs.

    python benchmarks/wiki_cleaners.py [DUMP_DIR] [--cleaners mwparserfromhell wikiextractor]

Streams every `*.bz2` MediaWiki XML dump in DUMP_DIR (default
`benchmarks/data/wikipedia`), keeps article pages
(namespace 0, not redirects), cleans each page with every cleaner, and prints
one markdown table per cleaner, a row per dump plus a total:

* pages, input chars (wikitext), output chars (cleaned text);
* kept %: output chars / input chars;
* residue / 1k: markup leftovers per 1,000 output chars, counted by
  `pipelines.corpus.wikitext.cleaners.markup_residue` ("{{", "}}", "[[", "]]",
  "<ref", "{|", "|}", "&nbsp;", "'''", "==", "thumb|", category prefixes,
  HTML-like tags, and every "|");
* chars/s: input chars per second of cleaning time, one core (parse and
  XML reading excluded).

A dump that stops parsing (truncated or malformed XML) is kept with the pages
read before the error, and the error is printed under the tables. The
language passed to the cleaners comes from the file name ("enwiki-…" -> "en").
"""
from __future__ import annotations

import argparse
import bz2
import dataclasses
import glob
import os
import re
import sys
import time
import xml.etree.ElementTree as ET

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from pipelines.corpus.wikitext.cleaners import CLEANERS, make_cleaner, markup_residue  # noqa: E402

_REDIRECT_TEXT = re.compile(
    r"^\s*#\s*(?:redirect|転送|перенаправлення|перенаправление|weiterleitung|"
    r"redirection|redirección|تحويل|เปลี่ยนทาง)", re.IGNORECASE)


@dataclasses.dataclass
class Totals:
    pages: int = 0
    input_chars: int = 0
    output_chars: int = 0
    residue: int = 0
    seconds: float = 0.0

    def add(self, other: "Totals") -> None:
        for field in dataclasses.fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def iter_articles(path: str, errors: list[str]):
    """(title, wikitext) of each ns-0, non-redirect page; a parse error ends
    the file and is recorded in `errors`."""
    read = 0
    try:
        with bz2.open(path) as stream:
            context = ET.iterparse(stream, events=("start", "end"))
            _, root = next(context)
            for event, element in context:
                if event != "end" or _local(element.tag) != "page":
                    continue
                read += 1
                title = ns = text = ""
                redirect = False
                for child in element:
                    name = _local(child.tag)
                    if name == "title":
                        title = child.text or ""
                    elif name == "ns":
                        ns = (child.text or "").strip()
                    elif name == "redirect":
                        redirect = True
                    elif name == "revision":
                        for part in child:
                            if _local(part.tag) == "text":
                                text = part.text or ""
                root.clear()  # bounded memory on big dumps
                if ns == "0" and not redirect and not _REDIRECT_TEXT.match(text):
                    yield title, text
    except (ET.ParseError, EOFError, OSError) as error:
        errors.append(f"{os.path.basename(path)}: stopped after {read} pages: "
                      f"{type(error).__name__}: {error}")


def language_of(path: str) -> str:
    match = re.match(r"([a-z][a-z_-]*?)wiki", os.path.basename(path))
    return match.group(1).replace("_", "-") if match else ""


def measure(dumps: list[str], cleaner_names: list[str]):
    cleaners = {name: make_cleaner(name) for name in cleaner_names}
    results = {name: {} for name in cleaner_names}
    errors: list[str] = []
    for path in dumps:
        language = language_of(path)
        rows = {name: Totals() for name in cleaner_names}
        for title, wikitext in iter_articles(path, errors):
            for name, cleaner in cleaners.items():
                started = time.perf_counter()
                out = cleaner.clean(wikitext, title, language)
                elapsed = time.perf_counter() - started
                row = rows[name]
                row.pages += 1
                row.input_chars += len(wikitext)
                row.output_chars += len(out)
                row.residue += markup_residue(out)
                row.seconds += elapsed
        for name in cleaner_names:
            results[name][os.path.basename(path)] = rows[name]
    return results, errors


def table(rows: dict[str, Totals]) -> str:
    lines = ["| dump | pages | input chars | output chars | kept % | residue / 1k | chars/s |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    total = Totals()
    for dump, row in rows.items():
        total.add(row)
        lines.append(_row(dump, row))
    lines.append(_row("**total**", total))
    return "\n".join(lines)


def _row(label: str, row: Totals) -> str:
    kept = 100 * row.output_chars / row.input_chars if row.input_chars else 0.0
    residue = 1000 * row.residue / row.output_chars if row.output_chars else 0.0
    speed = row.input_chars / row.seconds if row.seconds else 0.0
    return (f"| {label} | {row.pages:,} | {row.input_chars:,} | {row.output_chars:,} | "
            f"{kept:.1f} | {residue:.2f} | {speed:,.0f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dump_dir", nargs="?",
                        default=os.path.join(REPO, "benchmarks", "data", "wikipedia"),
                        help="folder with *.bz2 MediaWiki XML dumps")
    parser.add_argument("--cleaners", nargs="+", choices=CLEANERS, default=list(CLEANERS))
    args = parser.parse_args(argv)
    dumps = sorted(glob.glob(os.path.join(args.dump_dir, "*.bz2")))
    if not dumps:
        parser.error(f"no *.bz2 dumps in {args.dump_dir}")
    results, errors = measure(dumps, args.cleaners)
    for name in args.cleaners:
        print(f"### {name}\n")
        print(table(results[name]))
        print()
    if errors:
        print("Dumps that stopped early (pages read before the error are counted):\n")
        for error in errors:
            print(f"- {error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
