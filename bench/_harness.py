"""The JSON record every benchmark writes: what ran, where, when, and its figures.

    write("baselines", {...})  ->  bench/results/baselines.json

A record holds the commit (with a '+dirty' mark when the tree had uncommitted changes), the
UTC date, the 1-minute load average at the end (the machine is shared: a record taken under
load says so), the command line and the benchmark's own figures.
"""
from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _commit() -> str:
    def git(*args):
        return subprocess.run(["git", *args], capture_output=True, text=True,
                              cwd=RESULTS.parent).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def write(name: str, figures: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {"benchmark": name, "commit": _commit(),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "load_average_1min": round(os.getloadavg()[0], 2),
              "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), **figures}
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(path)
    return path
