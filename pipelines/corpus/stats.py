"""stats.json: outcome counts per input that reconcile (read == kept + dropped + errors).

It is also the corpus stage's completion record: written last, it lists every
file the stage wrote with its size, and the run (pipelines.output_folder).
"""
from __future__ import annotations

import json
from collections.abc import Iterable

import apache_beam as beam

from formats.corpus_files import CORPUS_STATS_FILE
from pipelines.corpus.documents import DROPPED, ERROR, KEPT, REPAIRED
from pipelines.output_folder import Staging, record_fields

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
    """Outcomes -> OUT/stats.json, once every file in `written` ((relative path, bytes) PCollections) is."""

    def __init__(self, staging: Staging, inputs: list[str], parameters: dict, run: dict, written: list) -> None:
        super().__init__()
        self._staging = staging
        self._inputs = sorted(set(inputs))
        self._parameters = parameters
        self._run = run
        self._written = written

    def expand(self, outcomes):
        staging, inputs, parameters, run = self._staging, self._inputs, self._parameters, self._run
        files = beam.pvalue.AsList(self._written | "AllFiles" >> beam.Flatten(pipeline=outcomes.pipeline))

        def write(rows: list[StatsRow], files: list[tuple[str, int]]) -> str:
            document = {**summarize(rows, inputs), "parameters": parameters, **record_fields(run, dict(files))}
            staging.write(CORPUS_STATS_FILE, json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8"))
            return f"{staging.output}/{CORPUS_STATS_FILE}"

        return (
            outcomes
            | "KeyByOutcome" >> beam.Map(
                lambda o: ((o.input, o.status, o.reason), (o.count, o.sentences, o.characters))
            )
            | "SumPerOutcome" >> beam.CombinePerKey(_sum_rows)
            | "Collect" >> beam.combiners.ToList()
            | "WriteJson" >> beam.Map(write, files)
        )
