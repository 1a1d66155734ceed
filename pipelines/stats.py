"""stats.json: outcome counts per input that reconcile (read == kept + dropped + errors)."""
from __future__ import annotations

import json
from collections.abc import Iterable

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipelines.records import DROPPED, ERROR, KEPT, REPAIRED

StatsRow = tuple[tuple[str, str, str], tuple[int, int, int]]  # (input, status, reason), (count, sentences, chars)


def _empty() -> dict:
    return {"read": 0, "kept": 0, "dropped": {}, "errors": 0, "error_reasons": {}, "repaired": {}, "documents": 0, "sentences": 0, "characters": 0}


def _add(totals: dict, status: str, reason: str, count: int, sentences: int, characters: int) -> None:
    if status == REPAIRED:  # units repaired inside kept records, not records
        totals["repaired"][reason] = totals["repaired"].get(reason, 0) + count
        return
    totals["read"] += count
    if status == KEPT:
        totals["kept"] += count
        totals["documents"] += count
        totals["sentences"] += sentences
        totals["characters"] += characters
    elif status == DROPPED:
        totals["dropped"][reason] = totals["dropped"].get(reason, 0) + count
    elif status == ERROR:
        totals["errors"] += count
        totals["error_reasons"][reason] = totals["error_reasons"].get(reason, 0) + count


def summarize(rows: Iterable[StatsRow], inputs: Iterable[str]) -> dict:
    """Totals and per-input counts; inputs that produced nothing still appear."""
    per_input = {name: _empty() for name in inputs}
    total = _empty()
    for (name, status, reason), (count, sentences, characters) in sorted(rows):
        for totals in (per_input.setdefault(name, _empty()), total):
            _add(totals, status, reason, count, sentences, characters)
    for totals in [total, *per_input.values()]:
        totals["dropped"] = dict(sorted(totals["dropped"].items()))
        totals["error_reasons"] = dict(sorted(totals["error_reasons"].items()))
    return {**total, "inputs": dict(sorted(per_input.items()))}


def reconciles(totals: dict) -> bool:
    return totals["read"] == totals["kept"] + sum(totals["dropped"].values()) + totals["errors"]


def _sum_rows(values: Iterable[tuple[int, int, int]]) -> tuple[int, int, int]:
    count = sentences = characters = 0
    for c, s, ch in values:
        count, sentences, characters = count + c, sentences + s, characters + ch
    return count, sentences, characters


class WriteStats(beam.PTransform):
    def __init__(self, path: str, inputs: list[str], parameters: dict) -> None:
        super().__init__()
        self._path = path
        self._inputs = sorted(set(inputs))
        self._parameters = parameters

    def expand(self, outcomes):
        path, inputs, parameters = self._path, self._inputs, self._parameters

        def write(rows: list[StatsRow]) -> str:
            document = {**summarize(rows, inputs), "parameters": parameters}
            with FileSystems.create(path) as handle:
                handle.write(json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8"))
            return path

        return (
            outcomes
            | "KeyByOutcome" >> beam.Map(
                lambda o: ((o.input, o.status, o.reason), (o.count, o.sentences, o.characters))
            )
            | "SumPerOutcome" >> beam.CombinePerKey(_sum_rows)
            | "Collect" >> beam.combiners.ToList()
            | "WriteJson" >> beam.Map(write)
        )
