"""The files handoff: values pickled into spool files, read back through their places, then removed."""
from __future__ import annotations

import tempfile
from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.util import assert_that, equal_to

from pipelines import handoff
from tests.support.local_pipeline import local_pipeline


def test_spool_writes_when_full_and_load_reads_back_in_the_order_given(tmp_path: Path) -> None:
    spool = handoff.Spool(str(tmp_path), limit=100)
    values = [b"a" * 10, np.arange(30), b"c" * 5, {"text": "é"}]
    spilled = [spool.add(value) for value in values]
    # The array took the first file past the limit: it was written, and the next value began another.
    assert spilled[0].path == spilled[1].path != spilled[2].path == spilled[3].path
    assert Path(spilled[0].path).exists() and not Path(spilled[3].path).exists()  # waits for close()
    spool.close()
    loaded = handoff.load([spilled[3], "as is", spilled[0], spilled[2], spilled[1]])
    assert loaded[:4] == [values[3], "as is", values[0], values[2]] and list(loaded[4]) == list(values[1])
    assert handoff.load([]) == []


def test_a_truncated_handoff_file_is_an_error_that_names_it(tmp_path: Path) -> None:
    spool = handoff.Spool(str(tmp_path))
    spilled = spool.add(b"x" * 1000)
    spool.close()
    Path(spilled.path).write_bytes(Path(spilled.path).read_bytes()[:500])
    with pytest.raises(OSError, match=spilled.path):
        handoff.load([spilled])


def test_a_local_run_hands_off_inside_its_work_folder(tmp_path: Path) -> None:
    with handoff.handoff_space(str(tmp_path)) as folder:
        assert folder == f"{tmp_path}/{handoff.FOLDER}"  # removed with the work folder, by the stage's run
    assert not Path(folder).exists()  # nothing made until a spool writes


def test_an_output_in_a_bucket_hands_off_through_a_local_temporary_folder_removed_after() -> None:
    with handoff.handoff_space("gs://bucket/out/.bertprep-pretraining-data-1") as folder:
        assert Path(folder).is_dir() and folder.startswith(tempfile.gettempdir())
        for _ in range(3):
            spool = handoff.Spool(folder)
            spool.add("value")
            spool.close()
        assert len(list(Path(folder).iterdir())) == 3
    assert not Path(folder).exists()


@pytest.mark.parametrize("kind", handoff.HANDOFFS)
def test_spread_moves_every_value_once(tmp_path: Path, monkeypatch, kind: str) -> None:
    monkeypatch.setattr(handoff, "BLOCK_BYTES", 200)
    values = [(f"doc{i}", ["sentence"] * (i % 7)) for i in range(300)]
    with local_pipeline() as pipeline:
        spread = pipeline | beam.Create(values) | handoff.Spread(kind, str(tmp_path / "handoff"))
        assert_that(spread, equal_to(values))
    files = list((tmp_path / "handoff").glob("*")) if kind == "files" else []
    assert (len(files) > 0) == (kind == "files")


def test_unknown_handoff_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown handoff 'disk'"):
        handoff.SpoolingDoFn("disk", "out")
