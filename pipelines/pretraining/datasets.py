"""Each length's dataset folder: its shards put in place under their final names, then metadata.json, the
completion record listing every shard with its size; and that record read back."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from apache_beam.io.filesystems import FileSystems

from formats.pretraining_data import METADATA_FILE, DatasetMetadata
from pipelines.output_folder import Staging
from pipelines.pretraining.layout import Layout
from pipelines.pretraining.options import PretrainingDataOptions
from pipelines.pretraining.shard_writer import ShardPiece, SpilledPiece, write_shard


def publish_shard(staging: Staging, options: PretrainingDataOptions, size: int, shard: int, num_shards: int,
                  pieces: list[ShardPiece | SpilledPiece]) -> tuple[int, int, int, int]:
    """Writes the shard under its temporary name, then puts it in place: (length, shard, instances, bytes)."""
    relative = options.in_length_dir(size, options.shard_names(size, num_shards)[shard])
    count = write_shard(staging.temporary(relative), pieces, options.compression)
    return size, shard, count, staging.publish(relative)


def sum_counts(dicts: Iterable[dict]) -> dict:
    """The counts of every step added up, by name."""
    total: Counter = Counter()
    for counts in dicts:
        total.update(counts)
    return dict(sorted(total.items()))


def write_metadata(written: list[tuple[int, int, int, int]], counts: dict, layout: Layout,
                   options: PretrainingDataOptions, vocab_size: int, staging: Staging) -> list[str]:
    """Writes missing (empty) shards, then metadata.json per length, the completion record listing every
    shard with its size; returns the metadata paths."""
    paths = []
    for length in options.lengths:
        size = length.max_seq_length
        num_shards = layout.shards[size]
        done = {shard: (count, nbytes) for written_size, shard, count, nbytes in written if written_size == size}
        for shard in sorted(set(range(num_shards)) - set(done)):
            done[shard] = publish_shard(staging, options, size, shard, num_shards, [])[2:]
        names = options.shard_names(size, num_shards)
        own = {name: value for name, value in counts.items() if not name.startswith("seq") or
               name.startswith(f"seq{size}_")}
        metadata = DatasetMetadata(
            max_seq_length=size, max_predictions_per_seq=length.max_predictions_per_seq,
            masked_lm_prob=length.masked_lm_prob, short_seq_prob=length.short_seq_prob,
            dupe_factor=options.dupe_factor, whole_word_mask=length.whole_word_mask,
            do_lower_case=options.do_lower_case, seed=options.seed, nsp=length.nsp,
            compression=options.compression, vocab_file=options.vocab_file, vocab_sha256=options.vocab_sha256,
            vocab_size=vocab_size, num_instances=sum(count for count, _ in done.values()), num_shards=num_shards,
            files=names, counters=own, input_stats=options.input_stats,
            file_bytes={name: done[shard][1] for shard, name in enumerate(names)}, run=options.length_run(length),
        )
        relative = options.in_length_dir(size, METADATA_FILE)
        staging.write(relative, metadata.to_json().encode("utf-8"))
        paths.append(f"{staging.output}/{relative}")
    return paths


def written_metadata(folder: str) -> DatasetMetadata:
    """The metadata.json a run wrote in a length's folder (read with Beam's FileSystems, without TensorFlow)."""
    with FileSystems.open(f"{folder}/{METADATA_FILE}") as handle:
        return DatasetMetadata.from_json(handle.read().decode("utf-8"))
