"""Output folders that cannot mislead: whole files, completion records, claims, safe cleanup.

Every stage (corpus, vocab, pretraining-data) writes its files under their
final names in a work folder of its own, `OUT/.bertprep-<stage>-<unique>`,
renames each into place when it is whole, and writes its completion record
(stats.json, vocab_stats.json, seqL/metadata.json) last. The record lists
every file with its size (`file_bytes`) and what identifies the run (`run`:
stage, parameters, input files with sizes). From that:

- a folder without its record is not an output: readers refuse it, and read
  only the files a record lists, after checking their sizes;
- rerunning a command whose output is complete does nothing (that is how
  `bertprep run` resumes); an output of another run is refused unless
  --overwrite, which removes only the stage's own files; the partial files of
  an interrupted run of the same command are removed and the work redone;
- the work folder is removed when the run ends, failed or not, and removal
  never follows a symlink out of the folder it cleans;
- a full disk or an unwritable path becomes one line naming the path.
"""
from __future__ import annotations

import errno
import json
import logging
import os
import posixpath
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import BinaryIO

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from formats.pretraining_data import FILE_BYTES, RUN, file_problems
from pipelines.errors import UsageError

WORK_PREFIX = ".bertprep-"
CLAIM_FILE = "claim.json"  # in a work folder: the outputs its run is making, so a rerun knows them
_FULL = "free some space or choose another --output"
_READ_ONLY = "make it writable or choose another --output"
_STORAGE_HINTS = {errno.ENOSPC: _FULL, errno.EDQUOT: _FULL, errno.EFBIG: _FULL,
                  errno.EACCES: _READ_ONLY, errno.EPERM: _READ_ONLY, errno.EROFS: _READ_ONLY}
# How an OSError reads once a worker process has turned it into text: [Errno 28] No space left on device: 'path'
_ERRNO_TEXT = re.compile(r"\[Errno (\d+)\] ([^:\]\n]+?)(?:: '([^'\n]+)')?(?=[\]\n:]|$| \[)")


def run_identity(stage: str, parameters: Mapping, inputs: Mapping[str, int]) -> dict:
    """What makes two runs the same, in the form it has once read back from JSON."""
    # Local inputs by absolute path: the same files, whichever folder the command is run from.
    files = {os.path.abspath(path) if _local(path) else path: size for path, size in inputs.items()}
    identity = {"stage": stage, "parameters": dict(parameters), "inputs": dict(sorted(files.items()))}
    return json.loads(json.dumps(identity, sort_keys=True, default=str))


def record_fields(run: Mapping, files: Mapping[str, int]) -> dict:
    """The part every completion record shares: its run and its files (relative path -> bytes)."""
    return {RUN: dict(run), FILE_BYTES: dict(sorted(files.items()))}


def _local(path: str) -> bool:
    return FileSystems.get_scheme(path) is None


def _sizes(patterns: Iterable[str]) -> dict[str, int]:
    """Path -> bytes of every file the patterns match."""
    return {metadata.path: metadata.size_in_bytes
            for result in FileSystems.match(list(patterns)) for metadata in result.metadata_list}


@contextmanager
def created(path: str, compression_type: str = CompressionTypes.AUTO) -> Iterator[BinaryIO]:
    """FileSystems.create whose OS errors name the file: a full disk's write error names none."""
    try:
        with FileSystems.create(path, compression_type=compression_type) as handle:
            yield handle
    except OSError as error:
        if error.errno is None or error.filename:
            raise
        raise OSError(error.errno, error.strerror or str(error), path) from error


@dataclass(frozen=True)
class Staging:
    """Where a stage's workers write: each file is made in `work` and renamed into `output` when whole."""

    output: str
    work: str

    def temporary(self, relative: str) -> str:
        return f"{self.work}/{relative}"

    @contextmanager
    def create(self, relative: str, compression_type: str = CompressionTypes.AUTO) -> Iterator[BinaryIO]:
        with created(self.temporary(relative), compression_type) as handle:
            yield handle

    def publish(self, relative: str) -> int:
        """Renames the finished file to its place in the output; returns its size in bytes."""
        source, target = self.temporary(relative), f"{self.output}/{relative}"
        [size] = _sizes([source]).values()
        if _local(target):
            os.makedirs(os.path.dirname(target), exist_ok=True)
        FileSystems.rename([source], [target])
        return size

    def write(self, relative: str, data: bytes) -> int:
        """Writes a whole file (a completion record, a vocab) and publishes it; returns its size."""
        with self.create(relative, CompressionTypes.UNCOMPRESSED) as handle:
            handle.write(data)
        return self.publish(relative)


# ---------------------------------------------------------------------------
# Reading a completion record
# ---------------------------------------------------------------------------


def read_record(folder: str, name: str) -> dict | None:
    """The record's JSON; None without one; {} for one that is not a JSON object (an unknown run's)."""
    path = f"{folder}/{name}"
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        try:
            record = json.loads(handle.read())
        except ValueError:
            return {}
    return record if isinstance(record, dict) else {}


def _safe(relative: str) -> bool:
    """A record's file name that stays inside its folder."""
    return bool(relative) and not relative.startswith("/") and ".." not in relative.split("/")


def listed_files(record: Mapping) -> dict[str, int]:
    """The files a record lists (relative path -> bytes), those that would lead out of its folder left out."""
    listed = record.get(FILE_BYTES)
    return {name: size for name, size in listed.items() if _safe(name)} if isinstance(listed, dict) else {}


def record_problems(folder: str, record: Mapping) -> list[str]:
    """Why the files of `folder` are not those its record lists (empty when they are)."""
    if not isinstance(record.get(FILE_BYTES), dict):
        return [f"it lists no files ({FILE_BYTES}); it was not written by this version of bertprep"]
    listed = listed_files(record)
    parents = sorted({posixpath.dirname(name) for name in listed})
    found = _sizes(f"{folder}/{parent}/*" if parent else f"{folder}/*" for parent in parents)
    return file_problems(listed, {path[len(folder) + 1:]: size for path, size in found.items()})


def complete_files(folder: str, record_name: str, what: str) -> tuple[dict, list[str]]:
    """The record of a complete output and the paths of the files it lists, in its order.

    Raises UsageError naming what is missing: the record, or a listed file (or one of another size).
    """
    folder = folder.rstrip("/")
    record = read_record(folder, record_name)
    if record is None:
        raise UsageError(f"{folder} has no {record_name}, so it is not a complete {what} (a run that did not "
                         "finish leaves none): rerun that stage, or name the files to read with a glob")
    problems = record_problems(folder, record)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise UsageError(f"{folder}/{record_name} does not match the folder: {'; '.join(problems[:3])}{more}; "
                         "rerun that stage with --overwrite")
    return record, [f"{folder}/{name}" for name in listed_files(record)]


# ---------------------------------------------------------------------------
# Removing, never through a symlink out of the folder
# ---------------------------------------------------------------------------


def _within(folder: str, path: str) -> bool:
    """Whether the folder holding `path`, symlinks resolved, is `folder` or inside it."""
    parent, root = os.path.realpath(os.path.dirname(path)), os.path.realpath(folder)
    return parent == root or parent.startswith(root + os.sep)


def remove_files(folder: str, names: Iterable[str]) -> None:
    """Deletes these files of `folder` (a symlink itself, not what it points to); never a folder, never a
    file reached through a symlinked folder."""
    remote = []
    for name in names:
        path = f"{folder}/{name}"
        if not _local(path):
            remote.append(path)
        elif not _within(folder, path):
            logging.warning("not removing %s: a symlink leads it out of %s", path, folder)
        elif os.path.islink(path) or os.path.isfile(path):
            os.remove(path)
            if os.path.dirname(name):  # a subfolder of the stage's (text/), once empty
                with suppress(OSError):
                    os.rmdir(os.path.dirname(path))
    if remote:
        FileSystems.delete(remote)


def remove_tree(path: str) -> None:
    """Deletes a folder this run created, and everything in it; a symlink in it is removed, not followed,
    and a symlink in its place is left alone (it is not what the run created)."""
    if _local(path):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        return
    inside = list(_sizes([f"{path}/**"]))
    if inside:
        FileSystems.delete(inside)


# ---------------------------------------------------------------------------
# Full disks and unwritable paths
# ---------------------------------------------------------------------------


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and everything it wraps: causes, contexts, exceptions among its args (Beam's IOError(err)),
    the per-file errors of a BeamIOError."""
    pending, seen = [error], set()
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        details = getattr(current, "exception_details", None)
        wrapped = (current.__cause__, current.__context__, *current.args,
                   *(details.values() if isinstance(details, dict) else ()))
        pending += [e for e in wrapped if isinstance(e, BaseException)]


def storage_problem(error: BaseException) -> str | None:
    """One line for a full disk or an unwritable path anywhere in `error`, naming the path; else None."""
    found = [(e.errno, e.filename, e.strerror) for e in _causes(error)
             if isinstance(e, OSError) and e.errno in _STORAGE_HINTS]
    found += [(int(m[1]), m[3], m[2]) for m in _ERRNO_TEXT.finditer(str(error)) if int(m[1]) in _STORAGE_HINTS]
    if not found:
        return None
    code, path, text = next((item for item in found if item[1]), found[0])
    where = f"cannot write {path}" if path else "cannot write the output"
    return f"{where}: {text or os.strerror(code)}; {_STORAGE_HINTS[code]} (the run stopped and left no complete output)"


class _HideStorageTracebacks(logging.Filter):
    """Beam logs a worker's exception with its traceback before raising it; for a full disk or an unwritable
    path the one line the command prints says all there is to say."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            return storage_problem(record.exc_info[1]) is None
        return storage_problem(Exception(record.getMessage())) is None


# ---------------------------------------------------------------------------
# Claiming output folders for a run
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Output:
    """One folder a stage fills: its completion record, the names of its own files, the run it will hold."""

    folder: str
    record: str  # file name of the completion record in `folder`
    patterns: tuple[str, ...]  # the stage's own files, as globs relative to `folder`
    run: dict  # run_identity(...)


def _difference(old: object, new: dict) -> str:
    if not isinstance(old, dict):
        return "its record names no run: another tool's, or an earlier bertprep's"
    if old.get("stage") != new["stage"]:
        return f"it is `bertprep {old.get('stage')}` output"
    before, now = old.get("parameters") or {}, new["parameters"]
    changed = [f"{name} {before.get(name)!r} there, {now.get(name)!r} now" for name in sorted({*before, *now})
               if before.get(name) != now.get(name)]
    if old.get("inputs") != new["inputs"]:
        changed.append("other input files")
    return "made with " + ("; ".join(changed[:4]) + ("; …" if len(changed) > 4 else "") or "other settings")


def _some(names: Sequence[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


class StageRun:
    """One run of a stage: claims its output folders, gives its pipeline a work folder, and cleans up.

        with StageRun("corpus", out, [Output(out, "stats.json", patterns, run)], overwrite) as stage:
            if stage.pending:
                ... build the pipeline with stage.staging ...

    Entering claims each output: complete with this run already (nothing to do, not in `pending`), empty
    of the stage's files, or holding another run's (UsageError, unless overwrite: its files are removed).
    Leaving removes the work folder and, after a failure, the files of the outputs it did not complete,
    and turns a full disk or unwritable path into a UsageError naming it.
    """

    def __init__(self, stage: str, base: str, outputs: Sequence[Output], overwrite: bool,
                 output_flag: str = "--output") -> None:
        self.stage, self.base, self.outputs, self.overwrite = stage, base.rstrip("/"), list(outputs), overwrite
        self.output_flag = output_flag  # the flag that names the folder, for the messages
        self.staging = Staging(self.base, f"{self.base}/{WORK_PREFIX}{stage}-{uuid.uuid4().hex}")
        self.pending: list[Output] = []
        self._quiet = _HideStorageTracebacks()

    def __enter__(self) -> StageRun:
        earlier = self._earlier_work()
        self.pending = [output for output in self.outputs if not self._claim(output, earlier)]
        ours = {output.folder: output.run for output in self.outputs}
        for work, claimed in earlier.items():  # work folders of dead runs whose outputs this run now owns
            if claimed.keys() <= ours.keys() and (self.overwrite or all(ours[f] == r for f, r in claimed.items())):
                remove_tree(work)
        for handler in logging.getLogger().handlers:
            handler.addFilter(self._quiet)
        if self.pending:
            claim = {"stage": self.stage, "outputs": {output.folder: output.run for output in self.pending}}
            try:
                with created(self.staging.temporary(CLAIM_FILE)) as handle:
                    handle.write(json.dumps(claim, indent=2).encode("utf-8"))
            except BaseException as error:  # a full disk already: leave as after any failure
                self.__exit__(type(error), error, error.__traceback__)
                raise
        return self

    def __exit__(self, kind, error, traceback) -> bool:
        for handler in logging.getLogger().handlers:
            handler.removeFilter(self._quiet)
        try:
            if error is not None:
                for output in self.pending:
                    record = read_record(output.folder, output.record)
                    if not record or record.get(RUN) != output.run or record_problems(output.folder, record):
                        self._remove(output, record)
        finally:
            remove_tree(self.staging.work)
        problem = storage_problem(error) if error is not None else None
        if problem:
            raise UsageError(problem) from None
        return False

    def _earlier_work(self) -> dict[str, dict]:
        """Work folders left by earlier runs of this stage that did not finish: folder -> claimed outputs."""
        earlier = {}
        for path in _sizes([f"{self.base}/{WORK_PREFIX}{self.stage}-*/{CLAIM_FILE}"]):
            work = path[:-len(CLAIM_FILE) - 1]
            if _local(work) and os.path.islink(work):
                continue
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
                try:
                    claimed = json.loads(handle.read()).get("outputs")
                except (ValueError, AttributeError):
                    continue
            if isinstance(claimed, dict):
                earlier[work] = claimed
        return earlier

    def _own_files(self, output: Output, record: dict | None) -> list[str]:
        """The stage's files in the output folder, as names relative to it: its record, the files that lists,
        and those named like the stage's files."""
        names = set() if record is None else {output.record}
        listed = listed_files(record or {})
        parents = {posixpath.dirname(name) for name in listed}
        patterns = [f"{output.folder}/{parent}/*" if parent else f"{output.folder}/*" for parent in sorted(parents)]
        found = {path[len(output.folder) + 1:] for path in _sizes(patterns)}
        names |= set(listed) & found
        names |= {path[len(output.folder) + 1:] for path in _sizes(f"{output.folder}/{p}" for p in output.patterns)}
        return sorted(names)

    def _remove(self, output: Output, record: dict | None) -> None:
        names = self._own_files(output, record)
        # The record first: a removal cut short must not leave a record whose files are gone.
        remove_files(output.folder, sorted(names, key=lambda name: name != output.record))

    def _claim(self, output: Output, earlier: dict[str, dict]) -> bool:
        """True when the folder already holds this run's complete output; else makes it ready to write."""
        record = read_record(output.folder, output.record)
        own = self._own_files(output, record)
        if record is not None and record.get(RUN) == output.run:
            problems = record_problems(output.folder, record)
            if not problems:
                print(f"{output.folder}: already complete ({output.record} records this run: same parameters "
                      "and inputs); not redone")
                return True
            reason = f"its {output.record} records this run, but {problems[0]}"
        elif record is not None:
            reason = _difference(record.get(RUN), output.run)
        elif not own:
            return False
        elif any(claimed.get(output.folder) == output.run for claimed in earlier.values()):
            print(f"{output.folder}: removing {len(own)} files of an interrupted run of this same command, "
                  "to redo it")
            self._remove(output, record)
            return False
        else:
            reason = f"it holds {_some(own)} but no {output.record}: files of a run that did not finish"
        if not self.overwrite:
            raise UsageError(f"{output.folder} holds the output of another run ({reason}); add --overwrite to "
                             f"replace it (only this stage's files are removed), or choose another {self.output_flag}")
        print(f"{output.folder}: --overwrite: removing {len(own)} files of the earlier run")
        self._remove(output, record)
        return False
