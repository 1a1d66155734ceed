"""Shared fixtures: a real local GCS server (see tests/support/gcs_emulator.py)."""
from __future__ import annotations

import pytest

from tests.support.gcs_emulator import new_bucket, running_emulator


@pytest.fixture(scope="session")
def gcs_environment(tmp_path_factory):
    """One emulator for the whole session; the variables that point clients at it."""
    with running_emulator(tmp_path_factory.mktemp("gcs")) as environment:
        yield environment


@pytest.fixture(scope="module")
def gcs_bucket(gcs_environment):
    """A fresh bucket, with the emulator's variables set for the module's tests (and their worker processes)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in gcs_environment.items():
            patch.setenv(name, value)
        yield new_bucket()
