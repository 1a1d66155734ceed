"""The pipelines against a real local GCS server (gcp-storage-emulator), and their Dataflow translation.

`bertprep run` reads its inputs from gs:// and writes every output there on
the DirectRunner; the same stages are then translated for Dataflow into
classic templates (Beam stages the package and writes the job without
submitting it), whose staged files and pipeline proto are checked.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import posixpath
import tempfile

import pyarrow.parquet as pq
import pytest
from apache_beam.portability.api import beam_runner_api_pb2

from formats.pretraining_data import DatasetMetadata
from pipelines.cli import pretraining_data as pretraining_data_command
from pipelines.cli.main import main
from pipelines.corpus.inputs import expand_inputs
from pipelines.corpus.sources import ReadOptions, plan_dump_ranges
from pipelines.output_folder import WORK_PREFIX
from tests.support.dataflow_worker import extract_archive, unpickle_on_a_worker
from tests.support.gcs_emulator import PROJECT, listing, read, upload
from tests.support.paths import REPO
from tests.support.wiki_fixtures import DATA, sample_xml, split_dump, write_multistream

WIKI_SAMPLE = "enwiki-pages-articles1-excerpt-40pages.xml.bz2"
BOOK = DATA / "gutenberg" / "pg1342-pride-and-prejudice-2025header-excerpt.txt"
CHUNK_MB = 0.01  # ~10 KB of bz2 per range: the 40-page sample fans out into several ranges
LENGTHS = (64, 128)


@pytest.fixture(scope="module")
def chain(gcs_bucket, tmp_path_factory):
    """Raw inputs uploaded to gs://, then `bertprep run` from gs:// to gs:// (once for the module)."""
    folder = tmp_path_factory.mktemp("raw")
    dump, index = write_multistream(sample_xml(WIKI_SAMPLE), folder, "enwiki-20240601", pages_per_stream=5)
    raw = f"gs://{gcs_bucket}/raw"
    for local, url in ((dump, f"{raw}/wiki/{dump.name}"), (index, f"{raw}/wiki/{index.name}"),
                       (BOOK, f"{raw}/books/{BOOK.name}")):
        upload(local, url)
    inputs = [f"wikipedia:{raw}/wiki/*", f"gutenberg:{raw}/books/*.txt"]
    output = f"gs://{gcs_bucket}/out"
    argv = ["run", *(f"--input={spec}" for spec in inputs), "--output", output, "--vocab_size", "3000",
            "--lengths", ",".join(f"{size}:{size // 6}" for size in LENGTHS), "--dupe_factor", "1",
            "--multistream_chunk_mb", str(CHUNK_MB)]
    folders: list[str] = []  # the handoff folders the run chose
    handoff_space = pretraining_data_command.handoff_space

    @contextlib.contextmanager
    def recorded(work: str):
        with handoff_space(work) as folder:
            folders.append(folder)
            yield folder

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pretraining_data_command, "handoff_space", recorded)
        assert main(argv) == 0
    return {"bucket": gcs_bucket, "inputs": inputs, "output": output, "handoff_folders": folders}


def test_multistream_dump_on_gcs_is_split_into_ranges(chain):
    [dump] = expand_inputs([chain["inputs"][0]])
    assert dump.index_path.endswith("-multistream-index.txt.bz2")  # the index was found beside it on gs://
    ranges = list(plan_dump_ranges(dump, ReadOptions(chunk_bytes=int(CHUNK_MB * 2**20))))
    assert len(ranges) > 2


def test_run_reads_from_and_writes_to_gcs(chain):
    output = chain["output"]
    stats = json.loads(read(f"{output}/corpus/stats.json"))
    _, pages, _ = split_dump(sample_xml(WIKI_SAMPLE))
    wiki, books = chain["inputs"]
    assert stats["inputs"][wiki]["read"] == len(pages)  # every page of every range, each once
    assert stats["inputs"][books]["kept"] == 1
    assert stats["errors"] == 0 and stats["kept"] > 1
    [shard] = listing(f"{output}/corpus/documents-*.parquet")
    documents = pq.read_table(io.BytesIO(read(shard))).to_pylist()
    assert len(documents) == stats["kept"]
    assert {doc["id"].split(":")[0] for doc in documents} == {"enwiki", "gutenberg"}
    assert all(doc["source"].startswith(f"gs://{chain['bucket']}/raw/") for doc in documents)

    vocab = read(f"{output}/vocab/vocab.txt")
    vocab_stats = json.loads(read(f"{output}/vocab/vocab_stats.json"))
    assert len(vocab.splitlines()) == 3000 and b"the" in vocab.splitlines()
    assert vocab_stats["sha256"] == hashlib.sha256(vocab).hexdigest()

    for size in LENGTHS:
        metadata = DatasetMetadata.from_json(read(f"{output}/seq{size}/metadata.json").decode())
        assert metadata.vocab_file == f"{output}/vocab/vocab.txt"
        assert metadata.vocab_sha256 == vocab_stats["sha256"]
        assert metadata.counters["documents"] == stats["kept"]
        assert metadata.input_stats == {f"{output}/corpus": stats}
        assert listing(f"{output}/seq{size}/part-*") == [f"{output}/seq{size}/{name}" for name in metadata.files]
    # The DirectRunner's handoff files went to a local temporary folder, not the bucket, and are gone, as is
    # every stage's work folder in the bucket.
    everything = listing(f"{output}/**")
    assert f"{output}/seq128/metadata.json" in everything and not [path for path in everything if WORK_PREFIX in path]
    assert len(chain["handoff_folders"]) == 1
    assert chain["handoff_folders"][0].startswith(tempfile.gettempdir())
    assert not os.path.exists(chain["handoff_folders"][0])


def _copy_to_ram(folder: str) -> str:
    """A gs:// folder of the emulator copied to TF's in-memory filesystem: TF's own gs:// client cannot be
    pointed at an emulator, and ram:// goes through the same tf.io.gfile paths as gs:// in production."""
    import tensorflow as tf

    target = f"ram://{folder.removeprefix('gs://')}"
    tf.io.gfile.makedirs(target)
    for url in listing(f"{folder}/*"):
        with tf.io.gfile.GFile(f"{target}/{posixpath.basename(url)}", "wb") as handle:
            handle.write(read(url))
    return target


def test_bert_model_trains_on_the_tfrecords_written_to_gcs(chain):
    from bert_model.input_pipeline import pretraining_dataset, read_metadata

    data_dir = _copy_to_ram(f"{chain['output']}/seq128")
    metadata = read_metadata(data_dir)
    batches = list(pretraining_dataset(data_dir, batch_size=64, max_seq_length=128,
                                       max_predictions_per_seq=metadata.max_predictions_per_seq, vocab_size=3000,
                                       is_training=False, drop_remainder=False))
    assert sum(len(batch["input_ids"]) for batch in batches) == metadata.num_instances > 0
    assert all(int(batch["input_ids"].numpy().max()) < 3000 for batch in batches)
    labels = {label for batch in batches for label in batch["next_sentence_labels"].numpy().ravel().tolist()}
    assert labels == {0, 1}

# ---------------------------------------------------------------------------
# Dataflow translation: classic templates written to the emulator, no job submitted
# ---------------------------------------------------------------------------


def _stage_arguments(stage: str, chain: dict) -> list[str]:
    output, bucket = chain["output"], chain["bucket"]
    return {
        "corpus": ["corpus", *(f"--input={spec}" for spec in chain["inputs"])],
        "vocab": ["vocab", f"--input=parquet:{output}/corpus/documents-*.parquet", "--vocab_size", "3000"],
        "pretraining-data": ["pretraining-data", "--input", f"{output}/corpus", "--vocab", f"{output}/vocab/vocab.txt",
                             "--lengths", "128:20", "--dupe_factor", "1"],
    }[stage] + ["--output", f"gs://{bucket}/dataflow/{stage}"]


def _dataflow_flags(stage: str, bucket: str) -> list[str]:
    # No --setup_file: the command stages this checkout's setup.py itself (pipelines.cli.dataflow_staging).
    return ["--runner", "DataflowRunner", "--project", PROJECT, "--region", "us-central1",
            "--temp_location", f"gs://{bucket}/tmp", "--staging_location", f"gs://{bucket}/staging/{stage}",
            "--template_location", f"gs://{bucket}/templates/{stage}"]


# Labels that carry the fan-out and the outputs of each stage.
EXPECTED_TRANSFORMS = {
    "corpus": ["Corpus/ReadDocuments/SpreadFiles", "Corpus/ReadDocuments/PlanReads", "Corpus/ReadDocuments/SpreadRanges",
               "Corpus/ReadDocuments/Read", "Corpus/ReadDocuments/Clean", "Corpus/ExactDedup/KeepSmallestId",
               "Corpus/SpreadDocuments", "Corpus/Segment", "WriteDocuments/WriteShard", "WriteErrors",
               "WriteStats/WriteJson"],
    "vocab": ["ReadDocuments/SpreadRanges", "CountTraining/CountTables", "CountTraining/SumBuckets", "Learn"],
    "pretraining-data": ["Read/ReadParquet", "Tokenize/SpreadDocuments", "Tokenize/TokenizeDocuments",
                         "Rank/CountBuckets", "Rank/Layout", "MakeInstances/GroupRanges",
                         "MakeInstances/CreateInstances", "MakeInstances/MeetDonors", "MakeInstances/FulfilRequests",
                         "WriteDatasets/GroupShards", "WriteDatasets/WriteShards", "WriteDatasets/WriteMetadata"],
}


@pytest.mark.parametrize("stage", list(EXPECTED_TRANSFORMS))
def test_dataflow_template_stages_the_package_and_the_pipeline(stage, chain, tmp_path, capsys, caplog):
    bucket = chain["bucket"]
    with caplog.at_level(logging.INFO):
        assert main(_stage_arguments(stage, chain) + _dataflow_flags(stage, bucket)) == 0
    assert "no job ran" in capsys.readouterr().out
    assert f"from this checkout: --setup_file {REPO / 'setup.py'}" in caplog.text
    assert not listing(f"gs://{bucket}/dataflow/{stage}/*")  # a template only: nothing ran

    template = json.loads(read(f"gs://{bucket}/templates/{stage}"))
    assert template["type"] == "JOB_TYPE_BATCH"
    staged = {package["name"]: package["location"] for package in template["environment"]["workerPools"][0]["packages"]}
    assert "workflow.tar.gz" in staged  # the sdist of setup.py, which workers pip-install
    extract_archive(read("gs://" + staged["workflow.tar.gz"].removeprefix("storage.googleapis.com/")), tmp_path)
    [package] = tmp_path.glob("bertprep-*")
    assert (package / "setup.py").exists() and (package / "README.md").exists()  # setup.py reads the README
    # The C sources the workers' pip install compiles (the numpy versions run where it cannot).
    assert (package / "pipelines" / "pretraining" / "_masking.c").exists()
    assert (package / "formats" / "_tfrecord_frames.c").exists()

    proto_path = tmp_path / "pipeline.pb"
    proto_path.write_bytes(read(template["environment"]["sdkPipelineOptions"]["options"]["pipelineUrl"]))
    pipeline = beam_runner_api_pb2.Pipeline.FromString(proto_path.read_bytes())
    labels = {transform.unique_name for transform in pipeline.components.transforms.values()}
    assert [label for label in EXPECTED_TRANSFORMS[stage] if label not in labels] == []

    functions, modules = unpickle_on_a_worker(proto_path, package, tmp_path)
    assert functions >= len(EXPECTED_TRANSFORMS[stage]) // 2 and modules > 0


def test_run_on_dataflow_refuses_inputs_on_the_launchers_disk(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["run", "--output", "gs://bucket/out", "--runner", "DataflowRunner", "--project", PROJECT,
              "--region", "us-central1", "--temp_location", "gs://bucket/tmp"])
    error = capsys.readouterr().err
    assert "Dataflow workers cannot read" in error and "tests/data/wikipedia" in error


def test_run_refuses_one_template_for_three_stages(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--output", "gs://bucket/out", "--template_location", "gs://bucket/templates/run"])
    assert "one per stage" in capsys.readouterr().err
