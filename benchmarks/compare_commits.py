"""One `bertprep` command run from this checkout and from an earlier commit, alternately, in one session.

Absolute times on a shared machine swing from day to day, so a change is judged by the ratio of the two
medians measured side by side. The earlier commit is checked out as a git worktree under /tmp (its C
extensions built in place) and run with the same interpreter and installed packages.

    python benchmarks/compare_commits.py --base 1b29b63 --repeats 3 -- \\
        corpus --input "wikipedia:tests/data/wikipedia/*.bz2" --input "gutenberg:tests/data/gutenberg/*.txt"

Every run writes into a fresh temporary folder, appended to the command as --output (or as the flag that
--output_flag names: --output_flag=--output_dir for pretrain and finetune); the command line must be valid
for both versions.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def checkout(revision: str) -> Path:
    """A worktree of `revision` with its compiled extensions, made once and reused."""
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", revision], check=True,
                            capture_output=True, text=True).stdout.strip()
    tree = Path(tempfile.gettempdir()) / f"bertprep-{commit}"
    if not tree.exists():
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), commit], check=True)
        subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=tree, check=True,
                       capture_output=True)
    return tree


def children_cpu_seconds() -> float:
    """User + system seconds of this process's finished children (subprocess.run waits for them)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_run(tree: Path, command: list[str], output_flag: str) -> tuple[float, float]:
    """(wall, CPU) seconds of one run of the command from `tree`, into a fresh output folder. CPU seconds
    (user + system, the command and its worker processes) change less than wall time when other jobs share
    the machine."""
    with tempfile.TemporaryDirectory() as output:
        started, cpu = time.perf_counter(), children_cpu_seconds()
        subprocess.run([sys.executable, "-m", "pipelines.cli", *command, output_flag, f"{output}/out"], cwd=tree,
                       env={**os.environ, "PYTHONPATH": str(tree)}, check=True, capture_output=True)
        return time.perf_counter() - started, children_cpu_seconds() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the earlier commit (or any git revision)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output_flag", default="--output", help="the command's flag for its output folder")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the bertprep command, without --output")
    args = parser.parse_args()
    command = [part for part in args.command if part != "--"]
    trees = {"base": checkout(args.base), "head": REPO}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
    for repeat in range(args.repeats):
        for name, tree in (trees.items() if repeat % 2 == 0 else reversed(trees.items())):
            times[name].append(timed_run(tree, command, args.output_flag))
            wall, cpu = times[name][-1]
            print(f"run {repeat + 1} {name}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
    for index, kind in enumerate(("wall", "CPU")):
        base, head = (statistics.median(run[index] for run in times[name]) for name in ("base", "head"))
        print(f"median {kind} s: base {args.base} {base:.1f}, head {head:.1f}; head/base {head / base:.3f}")


if __name__ == "__main__":
    main()
