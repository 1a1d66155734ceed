"""Dataflow jobs stage our code by themselves: this checkout's setup.py, an sdist of an installed copy, or a refusal.

The installed copy is a real `pip install --target` of this project; its jobs are written as classic
templates to the GCS emulator, and a simulated worker pip-installs the staged sdist and unpickles the job.
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from pipelines.cli.dataflow_staging import PACKAGES, dataflow_staging_args
from tests.support.dataflow_worker import extract_archive, unpickle_on_a_worker
from tests.support.gcs_emulator import PROJECT, read, upload
from tests.support.paths import REPO
from tests.support.wiki_fixtures import DATA

BOOK = DATA / "gutenberg" / "pg1342-pride-and-prejudice-2025header-excerpt.txt"
DATAFLOW = ["--runner", "DataflowRunner"]


@pytest.mark.parametrize("flags", [[], ["--runner", "DirectRunner"], [*DATAFLOW, "--setup_file", "/s/setup.py"],
                                   [*DATAFLOW, "--extra_package", "/p/bertprep-0.1.0.tar.gz"],
                                   [*DATAFLOW, "--sdk_container_image", "europe-docker.pkg.dev/p/r/bertprep:1"],
                                   [*DATAFLOW, "--worker_harness_container_image", "gcr.io/p/bertprep:1"]])
def test_nothing_is_added_off_dataflow_or_when_the_flags_name_the_code(flags):
    assert dataflow_staging_args(flags) == []


def test_a_checkout_stages_its_setup_py(caplog):
    with caplog.at_level("INFO"):
        assert dataflow_staging_args(DATAFLOW) == ["--setup_file", str(REPO / "setup.py")]
    assert "from this checkout" in caplog.text


def _copy_sources(target: pathlib.Path, *files: str) -> pathlib.Path:
    for name in files:
        shutil.copy(REPO / name, target)
    for package in PACKAGES:
        shutil.copytree(REPO / package, target / package, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    return target


def _pip_install(requirement: pathlib.Path, target: pathlib.Path) -> None:
    # --no-deps: the dependencies are this environment's; --no-build-isolation: no index is needed.
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(requirement)], check=True, capture_output=True, timeout=600)


@pytest.fixture(scope="module")
def installed_copy(tmp_path_factory) -> pathlib.Path:
    """This project as `pip install .` puts it in site-packages (here a folder of its own), not editable."""
    source = _copy_sources(tmp_path_factory.mktemp("source"), "setup.py", "README.md")
    site = tmp_path_factory.mktemp("site-packages")
    _pip_install(source, site)
    return site


def _launch(python_path: pathlib.Path, argv: list[str], cwd: pathlib.Path) -> subprocess.CompletedProcess:
    """`bertprep ARGV` from the copy of our code at python_path (cwd elsewhere, so the checkout is not seen)."""
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *argv], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(python_path)}, timeout=300)


def _corpus_template(bucket: str, name: str) -> list[str]:
    upload(BOOK, f"gs://{bucket}/books/{BOOK.name}")
    return ["corpus", f"--input=gutenberg:gs://{bucket}/books/*.txt", "--output", f"gs://{bucket}/{name}/corpus",
            *DATAFLOW, "--project", PROJECT, "--region", "us-central1", "--temp_location", f"gs://{bucket}/tmp",
            "--staging_location", f"gs://{bucket}/staging/{name}", "--template_location",
            f"gs://{bucket}/templates/{name}"]


def test_an_installed_copy_stages_an_sdist_that_a_worker_installs(installed_copy, gcs_bucket, tmp_path):
    launched = _launch(installed_copy, _corpus_template(gcs_bucket, "installed"), tmp_path)
    assert launched.returncode == 0, launched.stderr
    assert "from the installed package 0.1.0: --extra_package" in launched.stderr

    template = json.loads(read(f"gs://{gcs_bucket}/templates/installed"))
    staged = {package["name"]: package["location"] for package in template["environment"]["workerPools"][0]["packages"]}
    assert "bertprep-0.1.0.tar.gz" in staged and "workflow.tar.gz" not in staged
    sdist = tmp_path / "bertprep-0.1.0.tar.gz"
    sdist.write_bytes(read("gs://" + staged["bertprep-0.1.0.tar.gz"].removeprefix("storage.googleapis.com/")))
    extract_archive(sdist.read_bytes(), tmp_path / "unpacked")
    setup_py = (tmp_path / "unpacked" / "bertprep-0.1.0" / "setup.py").read_text()
    assert "apache-beam[gcp]" in setup_py and "pytest" not in setup_py  # the dependencies, not the test extra

    worker = tmp_path / "worker"
    _pip_install(sdist, worker)  # what the worker's boot does with an extra package (dependencies aside)
    proto = tmp_path / "pipeline.pb"
    proto.write_bytes(read(template["environment"]["sdkPipelineOptions"]["options"]["pipelineUrl"]))
    functions, modules = unpickle_on_a_worker(proto, worker, tmp_path)
    assert functions >= 5 and modules > 0


def test_a_copy_that_is_neither_checkout_nor_installed_is_refused(gcs_bucket, tmp_path):
    bare = _copy_sources(tmp_path / "bare")  # the modules alone: no setup.py, no installed metadata
    launched = _launch(bare, _corpus_template(gcs_bucket, "bare"), tmp_path)
    assert launched.returncode == 2
    [message] = launched.stderr.strip().splitlines()[-1:]
    assert message.startswith("bertprep corpus: error: cannot stage bertprep's code for the Dataflow workers")
    assert all(flag in message for flag in ("--setup_file", "--extra_package", "--sdk_container_image"))
