"""RemoteClient: the data owner's side of `polyzoo serve`, over HTTP.

    remote = RemoteClient("http://127.0.0.1:8000", "out/model/client", "out/model/keys")
    remote.ensure_keys(progress=True)    # keygen here; upload the evaluation keys once
    logits, seconds = remote.predict(x)  # encrypt here, run there, decrypt here

The secret key never leaves key_dir. The key id the server answered is remembered in
key_dir/remote_keys.json, per server URL, and reused while the server still holds it.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from polyzoo.export import _protocol as proto
from polyzoo.export._deploy import Client, DeploymentError

REMOTE_KEYS = "remote_keys.json"
CHUNK = 4 << 20  # upload chunk, bytes


class ServerError(DeploymentError):
    """The server answered with an error (status, code and its message)."""

    def __init__(self, status: int, code: str, detail: str):
        super().__init__(f"server answered {status} ({code}): {detail}")
        self.status, self.code, self.detail = status, code, detail


class RemoteClient:
    """Keys and encryption here, FHE there: a Client (client_dir, key_dir) and a server URL."""

    def __init__(self, url: str, client_dir: str | Path, key_dir: str | Path, *,
                 timeout: float = 600.0, retries: int = 20):
        import httpx

        self.url = url.rstrip("/")
        self.client = Client(client_dir, key_dir)
        self.retries = retries  # how often a 503 (queue full) is retried after Retry-After
        self._http = httpx.Client(base_url=self.url, timeout=timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self._http.close()

    def info(self) -> dict:
        """The server's /v1/info; raises DeploymentError if it serves another circuit."""
        info = self._request("GET", f"/{proto.API}/info", ok=(200,)).json()
        if info["circuit_id"] != self.client.meta["circuit_id"]:
            raise DeploymentError(
                f"{self.url} serves circuit {info['circuit_id']} ({info.get('name')}), but "
                f"{self.client.dir} is the client of circuit {self.client.meta['circuit_id']}: "
                "use the client directory of the export that server runs")
        return info

    def ensure_keys(self, progress: bool = False) -> tuple[str, bool]:
        """Generate keys if key_dir has none, and upload the evaluation keys unless the server
        still holds the ones uploaded before. Returns (server key id, whether it uploaded)."""
        self.client.keygen()
        known = self._stored_ids().get(self.url)
        if known and self._request("GET", f"/{proto.API}/keys/{known}",
                                   ok=(200, 404)).status_code == 200:
            return known, False
        return self.upload_keys(progress), True

    def upload_keys(self, progress: bool = False) -> str:
        """Upload the evaluation keys (streamed, with a progress bar); returns the key id."""
        data = self.client.evaluation_keys()
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=len(data), unit="B", unit_scale=True, unit_divisor=1024,
                       desc="uploading evaluation keys", disable=None)  # None: not in logs

        def chunks():
            view = memoryview(data)
            for start in range(0, len(data), CHUNK):
                piece = view[start:start + CHUNK]
                yield bytes(piece)
                if bar is not None:
                    bar.update(len(piece))
        try:
            answer = self._request("POST", f"/{proto.API}/keys", content=chunks(), headers={
                "Content-Type": proto.OCTET, "Content-Length": str(len(data)),
                proto.CIRCUIT_HEADER: self.client.meta["circuit_id"]}, ok=(201,)).json()
        finally:
            if bar is not None:
                bar.close()
        ids = self._stored_ids()
        ids[self.url] = answer["key_id"]
        (self.client.key_dir / REMOTE_KEYS).write_text(json.dumps(ids, indent=2))
        return answer["key_id"]

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, list[dict]]:
        """(N, ...) circuit inputs -> (decrypted outputs (N, C), per-sample timings
        {"seconds": round trip, "server_seconds": FHE run}). Call ensure_keys first."""
        key_id = self._stored_ids().get(self.url)
        if key_id is None:
            raise DeploymentError(f"no keys uploaded to {self.url} yet: call ensure_keys()")
        outs, timings = [], []
        for sample in np.asarray(x, np.float32):
            start = time.perf_counter()
            answer = self._request("POST", f"/{proto.API}/predict",
                                   content=self.client.encrypt_one(sample),
                                   headers={"Content-Type": proto.OCTET,
                                            proto.KEY_HEADER: key_id}, ok=(200,))
            if answer.headers.get(proto.CIRCUIT_HEADER) != self.client.meta["circuit_id"]:
                raise DeploymentError("the server answered for another circuit "
                                      f"({answer.headers.get(proto.CIRCUIT_HEADER)})")
            outs.append(self.client.decrypt_ciphertexts([answer.content]))
            timings.append({"seconds": time.perf_counter() - start,
                            "server_seconds": float(answer.headers[proto.SECONDS_HEADER])})
        return np.concatenate(outs), timings

    def _stored_ids(self) -> dict:
        path = self.client.key_dir / REMOTE_KEYS
        return json.loads(path.read_text()) if path.exists() else {}

    def _request(self, method: str, path: str, *, ok: tuple[int, ...], **kwargs):
        import httpx

        # A full queue (503) is retried after its Retry-After, unless the body was a stream
        # (the key upload), which cannot be sent twice.
        replayable = not hasattr(kwargs.get("content"), "__next__")
        for attempt in range(self.retries + 1):
            try:
                answer = self._http.request(method, path, **kwargs)
            except httpx.TransportError as err:
                raise DeploymentError(f"no polyzoo server answers at {self.url} ({err}): start "
                                      "one with `polyzoo serve DIR`") from None
            if answer.status_code != 503 or not replayable or attempt == self.retries:
                break
            time.sleep(float(answer.headers.get("Retry-After", "1")))
        if answer.status_code not in ok:
            try:
                body = answer.json()
                code, detail = body["error"], body["detail"]
            except (ValueError, KeyError, TypeError):
                code, detail = "http", answer.text[:200]
            raise ServerError(answer.status_code, code, detail)
        return answer
