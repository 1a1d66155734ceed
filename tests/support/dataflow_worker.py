"""A simulated Dataflow worker: a fresh interpreter whose only copy of this project is what the job staged."""
from __future__ import annotations

import io
import pathlib
import subprocess
import sys
import tarfile

# Every DoFn and CombineFn of the job must unpickle from the staged package, as on a Dataflow worker.
# Prints: the functions unpickled, our modules imported, and those of them loaded from outside the package.
_UNPICKLE_ON_A_WORKER = """
import sys
# A developer's editable install would lend its compiled extensions to the staged sources; a worker has
# only what it installs from the staged package.
sys.meta_path = [finder for finder in sys.meta_path if not getattr(finder, "__module__", "").startswith("__editable__")]
from apache_beam.internal import pickler
from apache_beam.portability import common_urns, python_urns
from apache_beam.portability.api import beam_runner_api_pb2 as api

pipeline = api.Pipeline.FromString(open(sys.argv[1], "rb").read())
functions = 0
for transform in pipeline.components.transforms.values():
    if transform.spec.urn == common_urns.primitives.PAR_DO.urn:
        function = api.ParDoPayload.FromString(transform.spec.payload).do_fn
    elif transform.spec.urn == common_urns.composites.COMBINE_PER_KEY.urn:
        function = api.CombinePayload.FromString(transform.spec.payload).combine_fn
    else:
        continue
    if function.urn in (python_urns.PICKLED_DOFN_INFO, python_urns.PICKLED_COMBINE_FN):
        pickler.loads(function.payload)
        functions += 1
ours = {name: module.__file__ for name, module in sys.modules.items()
        if name.split(".")[0] in ("pipelines", "vocab", "bert_model")}
outside = sorted(name for name, path in ours.items() if not path.startswith(sys.argv[2]))
print(functions, len(ours), outside)
"""


def unpickle_on_a_worker(pipeline_proto: pathlib.Path, package: pathlib.Path, cwd: pathlib.Path) -> tuple[int, int]:
    """(functions unpickled, modules of ours imported) in an interpreter that sees only `package` of ours;
    fails if any module of ours came from elsewhere."""
    worker = subprocess.run([sys.executable, "-c", _UNPICKLE_ON_A_WORKER, str(pipeline_proto), str(package)],
                            cwd=cwd, env={"PYTHONPATH": str(package), "PATH": ""}, capture_output=True, text=True,
                            timeout=120)
    assert worker.returncode == 0, worker.stderr
    functions, modules, outside = worker.stdout.split(maxsplit=2)
    assert outside.strip() == "[]"  # every module of ours came from the staged package
    return int(functions), int(modules)


def extract_archive(data: bytes, folder: pathlib.Path) -> None:
    """Unpacks a staged .tar.gz, refusing members that would land outside `folder` or are not plain.

    TarFile's own `filter="data"` exists from Python 3.11.4 (and in 3.10.12+); setup.py allows 3.10, and
    Debian 12's Python is 3.11.2, so older versions get the same checks here.
    """
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        if hasattr(tarfile, "data_filter"):
            archive.extractall(folder, filter="data")
            return
        root = folder.resolve()
        for member in archive.getmembers():
            target = (root / member.name).resolve()
            if not (member.isfile() or member.isdir()) or not target.is_relative_to(root):
                raise ValueError(f"unsafe archive member {member.name!r}")
        archive.extractall(folder)
