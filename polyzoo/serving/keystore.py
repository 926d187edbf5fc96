"""Evaluation keys on disk, one directory per key id, and an LRU of the loaded ones.

    root/<key_id>/evaluation_keys.bin     the bytes the client uploaded
    root/<key_id>/key.json                {"key_id", "circuit_id", "bytes", "created"}
    root/.incoming/<host>@<pid>-<random>/ an upload in progress

An upload is streamed into root/.incoming/, fsynced, validated (deserialised) and only then
renamed to root/<key_id>: a rename within one file system is atomic, so another server
instance sharing root never sees a partial key set, and an interrupted upload leaves nothing
outside .incoming, which a store opening sweeps of the uploads of dead instances. Nothing
here ever holds a secret key: evaluation keys only let a server compute on ciphertexts.
"""
from __future__ import annotations

import collections
import json
import os
import secrets
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable

KEYS = "evaluation_keys.bin"
META = "key.json"
INCOMING = ".incoming"
STALE_SECONDS = 3600.0


class UnknownKey(KeyError):
    """No key set with this id under the store's root."""


class Upload:
    """An upload in progress: write() its chunks, then KeyStore.commit() or abort()."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.bytes = 0
        self._file = open(directory / KEYS, "wb")

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self.bytes += len(chunk)

    def abort(self) -> None:
        self._file.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class KeyStore:
    """Key sets under `root`; `load(bytes) -> keys` deserialises (and validates) one set;
    at most `cache_size` loaded sets are kept in memory, least recently used out."""

    def __init__(self, root: str | Path, load: Callable[[bytes], Any], cache_size: int = 4):
        if cache_size < 1:
            raise ValueError(f"cache_size {cache_size}: keep at least one key set in memory")
        self.root = Path(root)
        (self.root / INCOMING).mkdir(parents=True, exist_ok=True)
        self._load, self.cache_size = load, cache_size
        self._cache: collections.OrderedDict[str, Any] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self._sweep()

    def _sweep(self) -> None:
        """Remove the uploads of instances that died mid-upload: on this host those whose
        process is gone, on any host (a shared key directory) those untouched for an hour."""
        now, host = time.time(), socket.gethostname()
        for entry in (self.root / INCOMING).iterdir():
            owner_host, _, rest = entry.name.rpartition("@")
            pid = rest.split("-")[0]
            dead = owner_host == host and pid.isdigit() and not _alive(int(pid))
            try:
                if dead or now - _last_write(entry) > STALE_SECONDS:
                    shutil.rmtree(entry, ignore_errors=True)
            except FileNotFoundError:  # another instance swept it first
                pass

    def begin(self) -> Upload:
        name = f"{socket.gethostname()}@{os.getpid()}-{secrets.token_hex(8)}"
        directory = self.root / INCOMING / name
        directory.mkdir()
        return Upload(directory)

    def commit(self, upload: Upload, circuit_id: str) -> dict:
        """Validate the uploaded bytes and publish them under a new random key id. Whatever
        `load` raises (keys that do not deserialise) aborts the upload and propagates."""
        try:
            upload._file.flush()
            os.fsync(upload._file.fileno())
            upload._file.close()
            keys = self._load((upload.dir / KEYS).read_bytes())
            key_id = secrets.token_urlsafe(24)
            meta = {"key_id": key_id, "circuit_id": circuit_id, "bytes": upload.bytes,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            _write_synced(upload.dir / META, json.dumps(meta).encode())
            os.rename(upload.dir, self.root / key_id)
            _fsync_dir(self.root)
        except BaseException:
            upload.abort()
            raise
        self._remember(key_id, keys)
        return meta

    def meta(self, key_id: str) -> dict:
        """The key set's record; UnknownKey if this store (any instance on root) has none."""
        try:
            return json.loads((self.root / key_id / META).read_text())
        except FileNotFoundError:
            raise UnknownKey(key_id) from None

    def get(self, key_id: str) -> Any:
        """The loaded key set: from memory, or read from disk (once, however many threads
        ask at the same time)."""
        with self._lock:
            if key_id in self._cache:
                self._cache.move_to_end(key_id)
                return self._cache[key_id]
            loading = self._loading.setdefault(key_id, threading.Lock())
        try:
            with loading:
                with self._lock:
                    if key_id in self._cache:
                        return self._cache[key_id]
                self.meta(key_id)
                keys = self._load((self.root / key_id / KEYS).read_bytes())
                self._remember(key_id, keys)
                return keys
        finally:
            with self._lock:
                self._loading.pop(key_id, None)

    @property
    def cached(self) -> int:
        return len(self._cache)

    def _remember(self, key_id: str, keys: Any) -> None:
        with self._lock:
            self._cache[key_id] = keys
            self._cache.move_to_end(key_id)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _last_write(entry: Path) -> float:
    return max([entry.stat().st_mtime] + [p.stat().st_mtime for p in entry.iterdir()])


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
