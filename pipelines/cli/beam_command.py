"""What every `bertprep` subcommand shares: input flags, output checks, running Beam."""
from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import DirectOptions, GoogleCloudOptions, PipelineOptions, StandardOptions
from apache_beam.runners.runner import PipelineRunner

from pipelines import progress
from pipelines.errors import UsageError
from pipelines.corpus.inputs import FORMATS, InputError, InputFile, expand_inputs

if TYPE_CHECKING:
    from pipelines.corpus.sources import ReadOptions

# Flags that do not shape what a stage writes (--handoff: the same bytes either way).
_NOT_PARAMETERS = ("command", "output", "overwrite", "handoff")


def add_input_arguments(parser: argparse.ArgumentParser, required: bool = True) -> argparse._ArgumentGroup:
    """--input/--output and the reading options of every stage that reads raw inputs."""
    # Imported here, not above: the reading and cleaning modules build Unicode tables when imported
    # (~0.3 s) that the commands without raw inputs do not need.
    from pipelines.corpus.sources import TEXT_SPLITS, ReadOptions
    from pipelines.corpus.wikitext.cleaners import CLEANERS, DEFAULT_CLEANER

    io = parser.add_argument_group("input and output")
    io.add_argument(
        "--input", action="append", required=required, metavar="[FORMAT:]PATH",
        help=f"file, glob or gs:// URL to read; repeatable. Optional format prefix: {', '.join(FORMATS)}. "
        "Without one the format is detected from the first file and logged. A multistream Wikipedia dump "
        "is read in parallel ranges when its -index.txt.bz2 is beside it.",
    )
    io.add_argument("--output", required=required, help="output folder (local or gs://)")
    io.add_argument("--text_split", choices=TEXT_SPLITS, default="file",
                    help="text: inputs: one document per file, or one per block separated by a blank line")
    io.add_argument("--max_page_bytes", type=int, default=ReadOptions.max_page_bytes,
                    help="wiki pages and JSONL records larger than this are recorded as errors and skipped; "
                    "a longer text of another kind is cut into documents of this many characters (counted)")
    io.add_argument("--max_file_bytes", type=int, default=ReadOptions.max_file_bytes,
                    help="books and text files larger than this are recorded as errors and skipped")
    io.add_argument("--multistream_chunk_mb", type=float, default=ReadOptions.chunk_bytes / 2**20,
                    help="compressed MB per parallel work item when reading an indexed multistream dump")
    io.add_argument("--language", default="",
                    help="language code for all inputs (overrides the dump's dbname/xml:lang and the book's Language: line)")
    io.add_argument("--wiki_cleaner", choices=CLEANERS, default=DEFAULT_CLEANER,
                    help="wikitext to prose: mwparserfromhell (MIT, default) or wikiextractor "
                    "(AGPL-3.0, pip install 'bertprep[wikiextractor]')")
    return io


def read_options(args: argparse.Namespace) -> ReadOptions:
    from pipelines.corpus.sources import ReadOptions

    return ReadOptions(
        language=args.language,
        max_page_bytes=args.max_page_bytes,
        max_file_bytes=args.max_file_bytes,
        text_split=args.text_split,
        chunk_bytes=int(args.multistream_chunk_mb * 2**20),
    )


def input_files(args: argparse.Namespace) -> list[InputFile]:
    try:
        return expand_inputs(args.input)
    except InputError as error:
        raise UsageError(str(error)) from None


def check_output_writable(output: str) -> None:
    probe = f"{output}/.bertprep-write-check-{uuid.uuid4().hex}"
    try:
        if not output.startswith("gs://") and not FileSystems.exists(output):
            FileSystems.mkdirs(output)
        with FileSystems.create(probe) as handle:
            handle.write(b"ok")
        FileSystems.delete([probe])
    except Exception as error:  # any filesystem's refusal means the same to the user
        raise UsageError(f"--output {output!r} is not writable ({error}); choose a folder you can write to") from None


def _beam_option_parser() -> argparse.ArgumentParser:
    """A parser of every option Beam registers, built as PipelineOptions builds its own."""
    from apache_beam.options.pipeline_options import _BeamArgumentParser

    parser = _BeamArgumentParser(allow_abbrev=False, exit_on_error=False)
    for options_class in {str(cls): cls for cls in PipelineOptions.__subclasses__()}.values():
        options_class._add_argparse_args(parser)
    return parser


def unknown_beam_flags(args: list[str]) -> tuple[list[str], list[str]]:
    """(the arguments Beam does not define, every flag Beam defines)."""
    parser = _beam_option_parser()
    try:
        _, unknown = parser.parse_known_args(args)
    except argparse.ArgumentError as error:  # a Beam flag with a bad value
        raise UsageError(str(error)) from None
    flags = [option for action in parser._actions for option in action.option_strings if option.startswith("--")]
    return unknown, flags


def template_location(beam_args: list[str]) -> str | None:
    """Where --template_location asks Dataflow to store the job as a classic template instead of running it."""
    return PipelineOptions(beam_args).view_as(GoogleCloudOptions).template_location


def runner_name(beam_args: list[str]) -> str:
    """The --runner among Beam's flags, lower-cased; "" for Beam's default (the DirectRunner)."""
    return (PipelineOptions(beam_args).view_as(StandardOptions).runner or "").lower()


def add_handoff_flag(group: argparse._ArgumentGroup, what: str, work_folder: str) -> None:
    """--handoff of a stage whose `what` cross large shuffles (pipelines.handoff)."""
    from pipelines.handoff import HANDOFFS

    group.add_argument("--handoff", default="auto", choices=("auto", *HANDOFFS),
                       help=f"how {what} cross the shuffles: as Beam elements, or pickled into files (in the run's "
                       f"work folder {work_folder}, or a local temporary folder for an output in a bucket) with "
                       "only their places shuffled, so memory does not grow with the corpus on the DirectRunner; "
                       "auto = files on the DirectRunner, shuffle elsewhere. Same output bytes")


def resolve_handoff(choice: str, beam_args: list[str]) -> str:
    """--handoff, with auto resolved: "files" on the DirectRunner (Beam's default runner)."""
    if choice != "auto":
        return choice
    runner = runner_name(beam_args)
    return "files" if not runner or "direct" in runner else "shuffle"


def resolve_spread(beam_args: list[str]) -> bool:
    """Whether a stage spreads its work over the workers (Reshuffles after fan-outs): not when the DirectRunner
    has one worker (its default: the pipeline in this process), where a Reshuffle only costs."""
    runner = runner_name(beam_args)
    return bool(runner and "direct" not in runner) or direct_num_workers(beam_args) != 1


def distribution(handoff_choice: str, beam_args: list[str], handoff_folder: str) -> dict:
    """A stage's `handoff`, `handoff_folder` and `spread` options (the fields of those names in its options):
    --handoff resolved, the folder kept only for the files handoff, and whether to spread the work."""
    handoff = resolve_handoff(handoff_choice, beam_args)
    return {"handoff": handoff, "handoff_folder": handoff_folder if handoff == "files" else "",
            "spread": resolve_spread(beam_args)}


def direct_num_workers(beam_args: list[str]) -> int:
    """The DirectRunner's worker count (--direct_num_workers; 0 means one per core)."""
    workers = PipelineOptions(beam_args).view_as(DirectOptions).direct_num_workers
    return os.cpu_count() or 1 if workers == 0 else workers


def check_worker_readable(beam_args: list[str], paths: Iterable[str], what: str) -> None:
    """Refuses paths on this machine's disk when the job runs on Dataflow's workers, which cannot see it."""
    if "dataflow" not in runner_name(beam_args):
        return
    local = sorted({path for path in paths if FileSystems.get_scheme(path) in (None, "file")})
    if local:
        raise UsageError(f"{what} {', '.join(local)} is on this machine's disk, which Dataflow workers cannot "
                         "read: copy it to gs:// and give that URL")


def check_worker_paths(beam_args: list[str], files: list[InputFile], output: str) -> None:
    """On Dataflow the workers read the inputs and write the output themselves: none may be on the launcher's disk."""
    check_worker_readable(beam_args, [path for f in files for path in (f.path, f.index_path) if path], "--input")
    check_worker_readable(beam_args, [output], "--output")


def fn_api_runner(beam_args: list[str]) -> PipelineRunner | None:
    """The FnApiRunner where Beam's DirectRunner would run the pipeline with it (batch), else None.

    The DirectRunner first walks the pipeline twice to choose between Prism, the FnApiRunner and its
    bundle-based runner (importing the Pub/Sub client to do so), and a Prism attempt leaves an empty
    /tmp/beam-temp* folder behind: a few tenths of a second and litter that every stage's pipeline, all
    batch and all suited to the FnApiRunner, need not cost. The FnApiRunner reads --direct_num_workers and
    --direct_running_mode itself.
    """
    if runner_name(beam_args) not in ("", "direct", "directrunner") or \
            PipelineOptions(beam_args).view_as(StandardOptions).streaming:
        return None
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    return FnApiRunner()


def run_pipeline(beam_args: list[str], build: Callable[[beam.Pipeline], None], stage: str = "",
                 totals: dict[str, int] | None = None) -> bool:
    """Runs a pipeline with the flags the subcommand did not claim (Beam's own), locally on the FnApiRunner
    (fn_api_runner).

    `stage` names the progress lines and summary (pipelines.progress) and `totals` what is known of
    the input before the run (for ETAs). On Dataflow, adds the flags that stage our code if none do.
    Returns False when no job ran because Dataflow only wrote a classic
    template (--template_location): there are then no outputs to report.
    """
    from pipelines.cli.dataflow_staging import dataflow_staging_args  # it imports this module

    beam_args = [*beam_args, *dataflow_staging_args(beam_args)]
    location = template_location(beam_args)
    with progress.report("" if location else stage, totals) as watch, \
            beam.Pipeline(runner=fn_api_runner(beam_args), options=PipelineOptions(beam_args)) as pipeline:
        watch(pipeline)
        build(pipeline)
    if location:
        print(f"wrote the Dataflow template {location}; no job ran (launch it with `gcloud dataflow jobs run`)")
    return not location


def command_parameters(args: argparse.Namespace) -> dict:
    """A command's flags that shape its output: all but where it goes and --overwrite."""
    return {name: value for name, value in sorted(vars(args).items()) if name not in _NOT_PARAMETERS}
