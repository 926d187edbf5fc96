"""Multi-process data parallelism, really run: two JAX processes on 127.0.0.1 (gloo CPU
collectives) train the same parameters as one process with the same global batch, and the
two-process run resumes from its own checkpoint."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

WORKER = Path(__file__).parents[1] / "helpers" / "multihost_worker.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(nproc: int, out: Path, run_dir: str, until: int) -> list[dict]:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)  # one CPU device per process
    port = str(_free_port())
    procs = [subprocess.Popen([sys.executable, str(WORKER), port, str(nproc), str(i), str(out),
                               run_dir, str(until)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(nproc)]
    reports = []
    try:
        for p in procs:
            stdout, stderr = p.communicate(timeout=240)
            assert p.returncode == 0, stderr[-3000:]
            reports.append(json.loads(stdout.strip().splitlines()[-1]))
    finally:
        for p in procs:
            p.kill()
    return reports


def test_two_processes_train_what_one_does_and_resume(tmp_path):
    run_dir = tmp_path / "run"
    first = _run(2, tmp_path / "half.npz", str(run_dir), until=4)
    assert [r["processes"] for r in first] == [2, 2] and first[0]["devices"] == 2
    assert (run_dir / "step_00000004").is_dir()
    resumed = _run(2, tmp_path / "two.npz", str(run_dir), until=8)
    assert [r["start"] for r in resumed] == [4, 4]  # both processes restored step 4
    (single,) = _run(1, tmp_path / "one.npz", "-", until=8)
    assert single == {"devices": 1, "processes": 1, "start": 0}
    two, one = np.load(tmp_path / "two.npz"), np.load(tmp_path / "one.npz")
    assert set(two) == set(one)
    half = np.load(tmp_path / "half.npz")
    assert any(not np.allclose(half[k], one[k]) for k in one)  # step 4 is not step 8
    for k in one:  # same params up to the order of the cross-process sum
        np.testing.assert_allclose(two[k], one[k], rtol=1e-5, atol=1e-6)
