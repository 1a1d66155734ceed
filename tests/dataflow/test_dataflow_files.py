"""dataflow/: the image, the Flex Template files and its entry point agree with the code they ship."""
from __future__ import annotations

import argparse
import json
import re

import apache_beam
import setuptools

from pipelines.cli import main as cli
from pipelines.cli.dataflow_staging import PACKAGES
from pipelines.cli.flex_template import STAGES, stage_argv
from tests.support.paths import REPO

DATAFLOW = REPO / "dataflow"
DOCKERFILE = (DATAFLOW / "Dockerfile").read_text()


def test_image_uses_the_beam_version_that_builds_the_job():
    # Workers whose SDK differs from the launcher's refuse the pipeline.
    assert re.search(r"^ARG BEAM_VERSION=(\S+)$", DOCKERFILE, re.M).group(1) == apache_beam.__version__
    assert "FROM apache/beam_python3.11_sdk:${BEAM_VERSION}" in DOCKERFILE


def test_image_copies_every_package_of_setup_py():
    top_level = {name.split(".")[0] for name in setuptools.find_packages(str(REPO), exclude=["tests", "tests.*"])}
    copied = set(re.findall(r"^COPY (\w+) \1$", DOCKERFILE, re.M))
    assert top_level == copied == set(PACKAGES) == {"formats", "pipelines", "vocab", "bert_model"}


def _stage_help(stage: str) -> str:
    parser = argparse.ArgumentParser()
    cli.command_module(stage).add_arguments(parser)
    return parser.format_help()


def test_template_parameters_are_flags_of_the_stages():
    metadata = json.loads((DATAFLOW / "metadata.json").read_text())
    spec = json.loads((DATAFLOW / "flex_template_spec.json").read_text())
    assert spec["sdkInfo"]["language"] == "PYTHON"
    names = [parameter["name"] for parameter in metadata["parameters"]]
    helps = " ".join(_stage_help(stage) for stage in STAGES)
    assert [name for name in names if name != "command" and not re.search(rf"--{name}\b", helps)] == []
    assert re.search(metadata["parameters"][0]["regexes"][0], "pretraining-data")


def test_entry_point_turns_parameters_into_a_stage_command_line():
    argv = stage_argv(["--command=corpus", "--input=wikipedia:gs://b/d/*.bz2; gutenberg:gs://b/books/*.txt",
                       "--output=gs://b/out/corpus", "--runner=DataflowRunner"])
    assert argv == ["corpus", "--input=wikipedia:gs://b/d/*.bz2", "--input=gutenberg:gs://b/books/*.txt",
                    "--output=gs://b/out/corpus", "--runner=DataflowRunner"]
    args, beam_args = cli.build_parser("corpus").parse_known_args(argv)
    assert args.input == ["wikipedia:gs://b/d/*.bz2", "gutenberg:gs://b/books/*.txt"]
    assert beam_args == ["--runner=DataflowRunner"]
