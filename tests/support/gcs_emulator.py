"""A real GCS server for the tests: gcp-storage-emulator on 127.0.0.1.

Clients find it through STORAGE_EMULATOR_HOST (google-cloud-storage, and so
Beam's gs:// filesystem). Beam also looks for credentials in every process
that touches gs://, and where there are none it retries for ~24 s before
going anonymous. `CREDENTIALS` is a standard credentials file holding an
access token valid until 2999: google.auth finds it at once (through
GOOGLE_APPLICATION_CREDENTIALS, so worker processes inherit it), never needs
the network to refresh it, and the emulator ignores the token it carries.
"""
from __future__ import annotations

import contextlib
import json
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from google.cloud import storage

CREDENTIALS = {
    "type": "authorized_user",
    "client_id": "gcs-emulator",
    "client_secret": "gcs-emulator",
    "refresh_token": "gcs-emulator",
    "token": "gcs-emulator",
    "expiry": "2999-01-01T00:00:00Z",
}
PROJECT = "test-project"
_START_TIMEOUT_S = 30


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _executable() -> str:
    beside_python = pathlib.Path(sys.executable).with_name("gcp-storage-emulator")
    found = str(beside_python) if beside_python.exists() else shutil.which("gcp-storage-emulator")
    if not found:
        raise RuntimeError("gcp-storage-emulator is not installed: pip install -e '.[test]'")
    return found


def _wait_until_serving(process: subprocess.Popen, url: str, log: pathlib.Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gcp-storage-emulator exited with {process.returncode}: {log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/storage/v1/b?project={PROJECT}", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gcp-storage-emulator did not answer on {url} within {_START_TIMEOUT_S} s")


@contextlib.contextmanager
def running_emulator(folder: pathlib.Path) -> Iterator[dict[str, str]]:
    """Starts the server; yields the environment that points clients at it."""
    credentials = folder / "credentials.json"
    credentials.write_text(json.dumps(CREDENTIALS))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = folder / "emulator.log"  # a file, not a pipe: a full pipe would stall the server
    with log.open("w") as output:
        process = subprocess.Popen(
            [_executable(), "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory", "--quiet"],
            stdout=output, stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_serving(process, url, log)
        yield {"STORAGE_EMULATOR_HOST": url, "GOOGLE_APPLICATION_CREDENTIALS": str(credentials),
               "GOOGLE_CLOUD_PROJECT": PROJECT}
    finally:
        process.terminate()
        process.wait(timeout=10)


def new_bucket() -> str:
    """A fresh bucket on the server the environment points at; returns its name."""
    name = f"bertprep-{uuid.uuid4().hex[:12]}"
    storage.Client(project=PROJECT).create_bucket(name)
    return name


def upload(local: pathlib.Path, url: str) -> None:
    """Copies bytes as they are (Beam would compress again a file named .bz2 or .gz)."""
    with FileSystems.create(url, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        handle.write(local.read_bytes())


def read(url: str) -> bytes:
    with FileSystems.open(url, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        return handle.read()


def listing(pattern: str) -> list[str]:
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
