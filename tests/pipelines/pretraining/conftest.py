"""Fixtures of the pretraining-data tests."""
from __future__ import annotations

import pytest

from tests.support.reference_bert import import_reference


@pytest.fixture(scope="module")
def reference():
    """The reference create_pretraining_data module."""
    return import_reference("create_pretraining_data")
