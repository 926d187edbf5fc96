"""`polyzoo serve` in a subprocess, for tests, benchmarks and scripts that need a real server.

    with start("out/model", "keys/", port=8000) as running:
        RemoteClient(running.url, ...)
"""
from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import time
from pathlib import Path


@dataclasses.dataclass
class Running:
    """A started server: its process, URL and log file."""
    process: subprocess.Popen
    url: str
    log: Path

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self) -> None:
        """Kill the server (as a crash would: no clean shutdown) and wait for it."""
        self.process.kill()
        self.process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(deployment: str | Path, key_dir: str | Path, *flags: str, port: int | None = None,
          log: str | Path | None = None, timeout: float = 180.0) -> Running:
    """Start `polyzoo serve DEPLOYMENT --keys KEY_DIR FLAGS...` on 127.0.0.1 and return once
    it answers /v1/health; its output goes to `log` (default DEPLOYMENT/../serve-PORT.log).
    Raises RuntimeError with the log if it exits or does not answer within `timeout` s."""
    import httpx

    port = port or free_port()
    log = Path(log or Path(deployment).parent / f"serve-{port}-{time.monotonic_ns()}.log")
    process = subprocess.Popen(
        [sys.executable, "-m", "polyzoo.cli", "serve", str(deployment), "--port", str(port),
         "--keys", str(key_dir), *flags], stdout=open(log, "w"), stderr=subprocess.STDOUT)
    running = Running(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"polyzoo serve exited with {process.returncode}:\n"
                               f"{log.read_text()}")
        try:
            if httpx.get(f"{running.url}/v1/health", timeout=2).status_code == 200:
                return running
        except httpx.TransportError:
            time.sleep(0.3)
    running.stop()
    raise RuntimeError(f"polyzoo serve did not answer within {timeout:.0f} s:\n"
                       f"{log.read_text()}")
