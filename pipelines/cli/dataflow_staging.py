"""How this project's code reaches Dataflow's workers when the Beam flags do not say.

Dataflow workers start from Beam's SDK image, which does not hold bertprep: a job that stages none of
our code fails on every worker at its first import. Unless the flags already name the code
(--setup_file, --extra_package(s), --sdk_container_image or its old name
--worker_harness_container_image), `dataflow_staging_args` adds:

- from a source checkout (the folder above `pipelines/` holds bertprep's setup.py): --setup_file
  CHECKOUT/setup.py. Beam builds its sdist; each worker pip-installs it with the dependencies and
  compiles the C extensions.
- from an installed (non-editable) package: --extra_package with an sdist made here from the installed
  modules and the distribution's metadata (version, dependencies). Installed packages hold no C
  sources, so those workers run the numpy versions (same bytes, ~1.25x slower); use the image for speed.
- otherwise it refuses, naming the flags to add.
"""
from __future__ import annotations

import atexit
import importlib.metadata
import logging
import pathlib
import shutil
import subprocess
import sys
import tempfile

from apache_beam.options.pipeline_options import PipelineOptions, SetupOptions, StandardOptions, WorkerOptions

from pipelines.errors import UsageError

DISTRIBUTION = "bertprep"
PACKAGES = ("formats", "pipelines", "vocab", "bert_model")
_ROOT = pathlib.Path(__file__).resolve().parents[2]  # a checkout, or site-packages for an installed copy


def _is_dataflow(options: PipelineOptions) -> bool:
    return "dataflow" in (options.view_as(StandardOptions).runner or "").lower()


def _given_code(options: PipelineOptions) -> str:
    """The flag by which the user already ships our code to the workers, or ""."""
    setup, worker = options.view_as(SetupOptions), options.view_as(WorkerOptions)
    for flag, value in (("--setup_file", setup.setup_file), ("--extra_package", setup.extra_packages),
                        ("--sdk_container_image", worker.sdk_container_image),
                        ("--worker_harness_container_image", worker.worker_harness_container_image)):
        if value:
            return flag
    return ""


def checkout_setup_file(root: pathlib.Path = _ROOT) -> pathlib.Path | None:
    """This checkout's setup.py, if the code runs from a source checkout of bertprep."""
    setup = root / "setup.py"
    try:
        return setup if f'name="{DISTRIBUTION}"' in setup.read_text(encoding="utf-8") else None
    except OSError:
        return None


def installed_distribution(root: pathlib.Path = _ROOT) -> importlib.metadata.Distribution | None:
    """bertprep's installed distribution, if the running modules are its installed files."""
    try:
        distribution = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    # An editable install lists no modules of ours; another copy on sys.path is not the running one.
    ours = [file for file in distribution.files or () if file.parts[0] in PACKAGES and file.suffix == ".py"]
    running = root / "pipelines" / "__init__.py"
    if not any(pathlib.Path(distribution.locate_file(file)).resolve() == running for file in ours):
        return None
    return distribution


_SETUP_PY = '''import setuptools

setuptools.setup(name={name!r}, version={version!r}, packages=setuptools.find_packages(include={include!r}),
                 install_requires={requires!r})
'''


def build_installed_sdist(distribution: importlib.metadata.Distribution, folder: pathlib.Path) -> pathlib.Path:
    """An sdist of the installed modules (no C sources: none are installed) with their dependencies."""
    project = folder / f"{DISTRIBUTION}-{distribution.version}"
    for file in distribution.files or ():
        if file.parts[0] in PACKAGES and file.suffix == ".py":
            target = project / pathlib.Path(*file.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(distribution.locate_file(file), target)
    # Extras (test, wikiextractor) are left out: workers need what the pipelines import.
    requires = [requirement for requirement in distribution.requires or () if "extra ==" not in requirement]
    (project / "setup.py").write_text(_SETUP_PY.format(
        name=DISTRIBUTION, version=distribution.version, requires=requires,
        include=[pattern for package in PACKAGES for pattern in (package, f"{package}.*")]), encoding="utf-8")
    built = subprocess.run([sys.executable, "setup.py", "-q", "sdist", "--formats=gztar", "--dist-dir", str(folder)],
                           cwd=project, capture_output=True, text=True)
    sdists = list(folder.glob("*.tar.gz"))
    if built.returncode or len(sdists) != 1:
        raise UsageError(f"could not build an sdist of the installed {DISTRIBUTION} to stage for Dataflow "
                           f"({built.stderr.strip().splitlines()[-1:] or 'no archive written'}); "
                           f"{_FLAGS_TO_ADD}")
    return sdists[0]


_FLAGS_TO_ADD = ("add --setup_file CHECKOUT/setup.py (a source checkout of bertprep), --extra_package "
                 "bertprep-VERSION.tar.gz (an sdist) or --sdk_container_image IMAGE (built from dataflow/Dockerfile)")


def dataflow_staging_args(beam_args: list[str]) -> list[str]:
    """Beam flags that stage this project's code for Dataflow's workers; [] for other runners or when given.

    Raises UsageError when the code can be neither found as a checkout nor as an installed package.
    """
    options = PipelineOptions(beam_args)
    if not _is_dataflow(options):
        return []
    given = _given_code(options)
    if given:
        logging.info("Dataflow workers get bertprep's code from %s, as given", given)
        return []
    setup_file = checkout_setup_file()
    if setup_file:
        logging.info("Dataflow workers get bertprep's code from this checkout: --setup_file %s", setup_file)
        return ["--setup_file", str(setup_file)]
    distribution = installed_distribution()
    if distribution:
        folder = pathlib.Path(tempfile.mkdtemp(prefix="bertprep-staging-"))
        atexit.register(shutil.rmtree, folder, True)  # staged when the job is submitted, before exit
        sdist = build_installed_sdist(distribution, folder)
        logging.info("Dataflow workers get bertprep's code from the installed package %s: --extra_package %s",
                     distribution.version, sdist)
        return ["--extra_package", str(sdist)]
    raise UsageError(f"cannot stage bertprep's code for the Dataflow workers: {_ROOT} is neither a source "
                       f"checkout (no bertprep setup.py) nor an installed {DISTRIBUTION} package; {_FLAGS_TO_ADD}")
