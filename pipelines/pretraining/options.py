"""What a pretraining-data run makes: its lengths, rounds, seed, sharding and where the datasets go."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from formats.pretraining_data import METADATA_FILE, SHARD_PATTERN, length_folder, shard_name
from pipelines.output_folder import Output, run_identity
from pipelines.handoff import HANDOFFS
from pipelines.pretraining.instances import InstanceOptions

# A range (the documents grouped for pairing, and the requests addressed to them) holds about this many
# tokens, or this many documents where they are short: a worker's memory is bounded by the tokens, pages or
# books alike, and the ranges stay few, since each range sends requests to nearly every other and the
# shuffle carries one batch per pair of ranges. The output does not depend on either.
DOCS_PER_RANGE = 4096
TOKENS_PER_RANGE = 500_000


@dataclass(frozen=True)
class PretrainingDataOptions:
    output: str
    lengths: tuple[InstanceOptions, ...]
    dupe_factor: int = 5
    seed: int = 12345
    do_lower_case: bool = True
    num_shards: int = 0  # 0: automatic, from the token count
    compression: str | None = None
    vocab_file: str = ""
    vocab_sha256: str = ""
    input_stats: dict = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)  # input file -> bytes: part of what identifies the run
    docs_per_range: int = DOCS_PER_RANGE  # documents a worker holds at once while pairing, at most
    tokens_per_range: int = TOKENS_PER_RANGE  # and their tokens
    handoff: str = "shuffle"  # how shuffled data travels: see pipelines.handoff
    handoff_folder: str = ""  # where "files" puts it (pipelines.handoff.handoff_folder)
    # Whether the documents are reshuffled before tokenizing, so that several workers share the reading's
    # output; with one worker it would only copy every document once more.
    spread: bool = True
    # The reference's --output_file: the one length's shards under these names, directly in `output` with
    # metadata.json beside them, instead of seqL/part-*.
    shard_files: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.handoff not in HANDOFFS:
            raise ValueError(f"unknown handoff {self.handoff!r}; use one of {', '.join(HANDOFFS)}")
        if self.handoff == "files" and not self.handoff_folder:
            raise ValueError("the files handoff needs a handoff_folder")
        if self.shard_files and (len(self.lengths) > 1 or self.num_shards != len(self.shard_files)):
            raise ValueError("named shard files hold one length, one shard each")

    def length_dir(self, size: int) -> str:
        """The folder of one length's shards and metadata.json, relative to `output` ("" for `output`)."""
        return "" if self.shard_files else length_folder(size)

    def shard_names(self, size: int, num_shards: int) -> list[str]:
        """The names of one length's shards in its folder."""
        if self.shard_files:
            return list(self.shard_files)
        return [shard_name(shard, num_shards, self.compression) for shard in range(num_shards)]

    def in_length_dir(self, size: int, name: str) -> str:
        """A file of one length's folder, relative to `output`."""
        folder = self.length_dir(size)
        return f"{folder}/{name}" if folder else name

    def folders(self) -> dict[InstanceOptions, str]:
        """Every length's folder (`output` itself for named shard files)."""
        return {length: f"{self.output}/{self.length_dir(length.max_seq_length)}".rstrip("/")
                for length in self.lengths}

    def outputs(self) -> list[Output]:
        """Every length's folder as an output of the stage, with metadata.json as its completion record."""
        return [Output(folder, METADATA_FILE, self.shard_files or (SHARD_PATTERN,), self.length_run(length))
                for length, folder in self.folders().items()]

    @property
    def nsp(self) -> bool:
        return self.lengths[0].nsp

    def length_run(self, length: InstanceOptions) -> dict:
        """What identifies the run that makes one length's folder (recorded in its metadata.json): each
        length's instances depend on the shared parameters and its own, never on the other lengths."""
        return run_identity("pretraining-data", {
            **asdict(length), "dupe_factor": self.dupe_factor, "seed": self.seed, "do_lower_case": self.do_lower_case,
            "num_shards": self.num_shards, "compression": self.compression, "vocab_sha256": self.vocab_sha256,
            "shard_files": list(self.shard_files),
        }, self.inputs)
