"""Beam pipelines for tests that build a stage themselves, run as the bertprep commands run local ones."""
from __future__ import annotations

import apache_beam as beam

from pipelines.cli.beam_command import fn_api_runner


def local_pipeline() -> beam.Pipeline:
    """A pipeline on the FnApiRunner, as `run_pipeline` gives a local run: Beam's DirectRunner would first try
    Prism, whose job server leaves an empty /tmp/beam-temp* folder behind for every pipeline."""
    return beam.Pipeline(runner=fn_api_runner([]))
