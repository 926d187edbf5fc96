"""What every benchmark shares: timing in turns, the first run apart, and the JSON record.

    timed = in_turns({"polyzoo": run_a, "peer": run_b}, rounds=6)   # a(0) b(0) a(1) b(1) ...
    summary(timed["polyzoo"].seconds)          # {"first_s", "median_s", "runs_s"}
    write("baselines", {...})  ->  bench/results/baselines.json

The machine is shared and noisy: the compared calls take turns, one input each per round, so
that a change of load falls on all of them alike; the first run of each is reported apart (it
loads keys, compiles, warms caches) and the median of the others is the figure. A record
holds the commit (with a '+dirty' mark when code, not records or pages, had uncommitted
changes), the UTC date, the 1-minute load average at the end (a record taken under load says
so), the command line and the benchmark's own figures.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

RESULTS = Path(__file__).resolve().parent / "results"


def _commit(root: Path = RESULTS.parents[1]) -> str:
    """HEAD of the repository at `root`, '+dirty' when code (not records or pages) changed."""
    def git(*args):
        return subprocess.run(["git", *args], capture_output=True, text=True,
                              cwd=root).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    # Dirty only where what was measured may differ from HEAD: records (a resumed run rewrites
    # its own) and the pages rendered from them do not count. The pathspecs are relative to
    # the repository root, hence cwd=root.
    changed = git("status", "--porcelain", "--untracked-files=no", "--", ".",
                  ":(exclude)bench/results", ":(exclude)docs", ":(exclude)*.md")
    return head + ("+dirty" if changed else "")


def provenance() -> dict:
    """{'commit', 'date'} of a measurement taken now: what every record starts with, and what a
    record whose parts are measured in different runs keeps per part."""
    return {"commit": _commit(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def write(name: str, figures: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {"benchmark": name, **provenance(),
              "load_average_1min": round(os.getloadavg()[0], 2),
              "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), **figures}
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(path)
    return path


def checkpoint_digest(entry: dict) -> str:
    """Short sha256 of a zoo manifest entry's file digests: which checkpoint a record measured
    (render_results.py flags a record whose entry was retrained since)."""
    import hashlib

    return hashlib.sha256(json.dumps(entry["files"], sort_keys=True).encode()).hexdigest()[:16]


def is_current(manifest: dict, name: str, row: dict) -> bool:
    """Whether a benchmark row measured zoo entry `name` as it is now (not retrained since)."""
    entry = manifest["entries"].get(name)
    return entry is not None and row.get("checkpoint") == checkpoint_digest(entry)


def when(record: dict) -> str:
    """Which run wrote a benchmark record: its commit, date and the load average then."""
    return (f"commit {record['commit']}, {record['date']}, load average "
            f"{record['load_average_1min']}")


def pct(x) -> str:
    """A fraction as a percentage with two decimals ('-' for None), as every results page."""
    return "-" if x is None else f"{100 * x:.2f}%"


def adds_nothing(row: dict) -> bool:
    """Whether a linear head on what the row's client sends is as accurate as its circuit."""
    alone = row.get("client_alone_accuracy")
    return alone is not None and alone >= row["emulated_test_accuracy"]


def accuracy(logits, labels) -> float:
    """Argmax accuracy of (N, classes) logits against (N,) labels."""
    import numpy as np

    return float(np.mean(np.argmax(np.asarray(logits), -1) == np.asarray(labels)))


@dataclasses.dataclass
class Timed:
    """One call's runs: seconds and outputs, in order."""
    seconds: list[float] = dataclasses.field(default_factory=list)
    outputs: list[Any] = dataclasses.field(default_factory=list)


def in_turns(calls: Mapping[str, Callable[[int], Any]], rounds: int | Mapping[str, int], *,
             start: int = 0, self_timed: bool = False,
             log: Callable[[str], None] | None = print) -> dict[str, Timed]:
    """Round r runs every call on input start + r, one after another. Each call's wall time
    is measured here, or (`self_timed`) the call returns (output, seconds) itself (a server
    that reports its own time). rounds: for every call, or per name (a slow peer can take
    fewer; it then sits out the last rounds)."""
    counts = rounds if isinstance(rounds, Mapping) else dict.fromkeys(calls, rounds)
    timed = {name: Timed() for name in calls}
    for r in range(max(counts.values(), default=0)):
        for name, call in calls.items():
            if r >= counts[name]:
                continue
            t0 = time.perf_counter()
            out = call(start + r)
            seconds = time.perf_counter() - t0
            if self_timed:
                out, seconds = out
            timed[name].seconds.append(seconds)
            timed[name].outputs.append(out)
            if log:
                log(f"  round {r}, {name}: {seconds:.2f} s")
    return timed


def summary(seconds: Sequence[float], *, first_apart: bool = True, digits: int = 2) -> dict:
    """{'first_s', 'median_s', 'runs_s'}: the first run apart, the median of the others (of
    all, when there is one run or `first_apart` is off)."""
    rest = list(seconds[1:]) if first_apart and len(seconds) > 1 else list(seconds)
    return {"first_s": round(seconds[0], digits),
            "median_s": round(statistics.median(rest), digits),
            "runs_s": [round(s, digits) for s in seconds]}


def encrypted_in_turns(runs: Mapping[str, tuple[Callable, Any, Any]],
                       n: int | Mapping[str, int],
                       log: Callable[[str], None] | None = print) -> dict[str, dict]:
    """Encrypted inference in turns: runs[name] = (predict(batch) -> outputs, inputs, their
    simulated outputs); the first n inputs (n: for all, or per name), one per round, the
    first apart. Per name:
    encrypted_first_s, encrypted_s_per_image (the median of the others), encrypted_runs_s,
    encrypted_equals_simulated (every output equal to its simulation), and how many of the n
    outputs (encrypted_equal_outputs) and predictions (encrypted_same_predictions) are equal.
    Concrete's simulation draws PBS errors at the circuit's p_error too, so a circuit whose
    PBS x p_error is a few percent can differ from it on one input of n."""
    import numpy as np

    calls = {name: (lambda i, predict=predict, x=x: predict(x[[i]]))
             for name, (predict, x, _) in runs.items()}
    timed = in_turns(calls, n, log=log)
    figures = {}
    for name, (_, _, simulated) in runs.items():
        s = summary(timed[name].seconds)
        outs = [np.asarray(out) for out in timed[name].outputs]
        equal = [bool(np.array_equal(out, simulated[[i]])) for i, out in enumerate(outs)]
        same = [bool(np.array_equal(np.argmax(out, -1), np.argmax(simulated[[i]], -1)))
                for i, out in enumerate(outs)]
        figures[name] = {
            "encrypted_first_s": s["first_s"], "encrypted_s_per_image": s["median_s"],
            "encrypted_runs_s": s["runs_s"],
            "encrypted_equals_simulated": all(equal),
            "encrypted_equal_outputs": f"{sum(equal)}/{len(equal)}",
            "encrypted_same_predictions": f"{sum(same)}/{len(same)}"}
    return figures
