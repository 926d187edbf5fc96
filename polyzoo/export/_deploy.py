"""Client/server deployment of a compiled circuit (Concrete-ML FHEModelDev/Client/Server).

    save_deployment(circuit, out_dir)  ->  out_dir/client/{client.zip, polyzoo.json}
                                           out_dir/server/{server.zip, polyzoo.json}
    client = Client(out_dir / 'client', key_dir)   # holds the secret key (key_dir)
    server = Server(out_dir / 'server')             # holds no secret key
    request = client.encrypt(x)                     # ciphertexts + evaluation keys
    logits = client.decrypt(server.run(request))

Every export gets a random circuit id written on both sides; every key set gets a key id.
A request for another circuit, or a result made under other keys, fails with a clear error
instead of decrypting to noise.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from polyzoo.export import _concrete as concrete
from polyzoo.export._compile import Circuit

META = "polyzoo.json"
KEY_FILE = "keys.bin"
KEY_META = "polyzoo_keys.json"


class DeploymentError(ValueError):
    """A missing/mismatched key, or a server directory from another model."""


@dataclasses.dataclass
class Request:
    """What a client sends for a batch: ciphertexts for one circuit under one key set, and
    the evaluation keys the server needs (no secret key)."""
    circuit_id: str
    key_id: str
    ciphertexts: list[bytes]     # one per sample (Concrete circuits run on batch size 1)
    evaluation_keys: bytes


@dataclasses.dataclass
class Response:
    """What the server answers: encrypted outputs, tagged with the circuit and key set they
    were computed for, and the server's seconds."""
    circuit_id: str
    key_id: str
    ciphertexts: list[bytes]
    seconds: list[float]         # server time per sample; with compressed keys
                                 # (Knobs.compress_keys) the first includes expanding them
    key_seconds: float = 0.0     # deserialising the evaluation keys, once per request


def save_deployment(circuit: Circuit, out_dir: str | Path, meta: dict | None = None) -> Path:
    """Write client and server directories for `circuit`; returns out_dir."""
    out = Path(out_dir)
    for side in ("client", "server"):
        if (out / side).exists() and any((out / side).iterdir()):
            raise DeploymentError(f"{out / side} is not empty: choose a new --out directory or "
                                  "delete the old deployment first")
    info = {"circuit_id": uuid.uuid4().hex, "input_range": list(circuit.input_range),
            "input_shape": _input_shape(circuit), "knobs": circuit.knobs.to_json(),
            **(meta or {})}
    with tempfile.TemporaryDirectory() as tmp:
        # The compiled library, not Concrete-ML's default of the MLIR (via_mlir), which makes
        # every server start compile the circuit again (4 min with the precision_and_norm2
        # partition). The library runs on this CPU architecture and Concrete version only.
        concrete.deployment().FHEModelDev(tmp, circuit.module).save(via_mlir=False)
        for side in ("client", "server"):
            (out / side).mkdir(parents=True, exist_ok=True)
            shutil.copy(Path(tmp) / f"{side}.zip", out / side / f"{side}.zip")
            (out / side / META).write_text(json.dumps(info, indent=2))
    return out


def _input_shape(circuit: Circuit) -> list[int]:
    """One sample's shape, without the batch axis (symbolic in the ONNX graph)."""
    dims = circuit.onnx_model.graph.input[0].type.tensor_type.shape.dim
    return [int(d.dim_value) for d in dims[1:]]


def concrete_version() -> str:
    return concrete.version()


def _read_meta(directory: Path, side: str) -> dict:
    path = directory / META
    if not (directory / f"{side}.zip").exists() or not path.exists():
        raise DeploymentError(f"{directory} is not a polyzoo {side} directory (no {side}.zip or "
                              f"{META}); create one with `polyzoo export NAME --out DIR`")
    return json.loads(path.read_text())


class Client:
    """The data owner's side: quantise, encrypt, decrypt. key_dir holds the secret key."""

    def __init__(self, client_dir: str | Path, key_dir: str | Path):
        self.dir = Path(client_dir)
        self.meta = _read_meta(self.dir, "client")
        self.key_dir = Path(key_dir)
        self.key_dir.mkdir(parents=True, exist_ok=True)
        key_meta = self.key_dir / KEY_META
        if key_meta.exists():
            stored = json.loads(key_meta.read_text())
            if stored["circuit_id"] != self.meta["circuit_id"]:
                raise DeploymentError(
                    f"the keys in {self.key_dir} belong to circuit {stored['circuit_id']}, not "
                    f"to this client's circuit {self.meta['circuit_id']}: use another --keys "
                    "directory (new keys are generated there)")
        self._fhe = concrete.deployment().FHEModelClient(str(self.dir),
                                                          key_dir=str(self.key_dir / KEY_FILE))

    @property
    def has_keys(self) -> bool:
        return (self.key_dir / KEY_META).exists()

    @property
    def key_id(self) -> str:
        if not self.has_keys:
            raise DeploymentError(f"no keys in {self.key_dir}: call keygen() first")
        return json.loads((self.key_dir / KEY_META).read_text())["key_id"]

    def keygen(self) -> float:
        """Generate (or load) the secret and evaluation keys; returns seconds."""
        start = time.perf_counter()
        self._fhe.generate_private_and_evaluation_keys(force=False)
        if not self.has_keys:
            _flush(self.key_dir)
            (self.key_dir / KEY_META).write_text(json.dumps(
                {"circuit_id": self.meta["circuit_id"], "key_id": uuid.uuid4().hex}))
        return time.perf_counter() - start

    def out_of_range(self, x: np.ndarray) -> int:
        lo, hi = self.meta["input_range"]
        return int(np.sum((np.asarray(x) < lo) | (np.asarray(x) > hi)))

    def encrypt(self, x: np.ndarray) -> Request:
        """(N, ...) float32 -> one ciphertext per sample, plus the evaluation keys."""
        if not self.has_keys:
            raise DeploymentError(f"no keys in {self.key_dir}: call keygen() before encrypting")
        x = np.asarray(x, np.float32)
        cts = [self.encrypt_one(sample) for sample in x]
        return Request(self.meta["circuit_id"], self.key_id, cts, self.evaluation_keys())

    def decrypt(self, response: Response) -> np.ndarray:
        if response.circuit_id != self.meta["circuit_id"]:
            raise DeploymentError("the result comes from another circuit "
                                  f"({response.circuit_id}, this client's is "
                                  f"{self.meta['circuit_id']})")
        if response.key_id != self.key_id:
            raise DeploymentError(f"the result was computed under keys {response.key_id} but "
                                  f"{self.key_dir} holds keys {self.key_id}: decrypt with the "
                                  "key directory that encrypted the request")
        return self.decrypt_ciphertexts(response.ciphertexts)

    def decrypt_ciphertexts(self, ciphertexts: list[bytes]) -> np.ndarray:
        """Decrypt outputs whose circuit and key set the caller has checked (see decrypt)."""
        return np.concatenate([self._fhe.deserialize_decrypt_dequantize(ct)
                               for ct in ciphertexts])

    def encrypt_one(self, x: np.ndarray) -> bytes:
        """One sample (...) float32 -> its serialised ciphertext (keys must exist)."""
        if not self.has_keys:
            raise DeploymentError(f"no keys in {self.key_dir}: call keygen() before encrypting")
        return self._fhe.quantize_encrypt_serialize(np.asarray(x, np.float32)[None])

    def evaluation_keys(self) -> bytes:
        """The serialised evaluation keys: what a server needs, no secret key."""
        return self._fhe.get_serialized_evaluation_keys()


def _flush(directory: Path) -> None:
    """Write the new key files to disk now. Uncompressed keys are gigabytes, and left to the
    kernel's writeback they are written out while the first image runs (micro ViT,
    2026-11-22: first images of 57.8 and 61.6 s after a fresh key generation without this
    flush, 51.7 and 52.7 s with it; it adds a few seconds to the key generation)."""
    for path in directory.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())


def agreement(logits: np.ndarray, reference) -> tuple[np.ndarray, np.ndarray]:
    """(same prediction, bit-identical logits) for each of the first len(reference) samples.

    `reference`: simulated outputs stored at export as JSON numbers. Both sides are compared
    in float64: the dequantised outputs are float64 and JSON keeps them exactly, while a
    float32 cast of either side would make equal outputs differ.
    """
    ref = np.asarray(reference, np.float64)
    out = np.asarray(logits, np.float64)[:len(ref)]
    ref = ref[:len(out)]
    return np.argmax(out, -1) == np.argmax(ref, -1), np.all(out == ref, axis=-1)


class Server:
    """The evaluator's side: runs the circuit on ciphertexts with evaluation keys only."""

    def __init__(self, server_dir: str | Path):
        self.dir = Path(server_dir)
        self.meta = _read_meta(self.dir, "server")
        self._fhe = concrete.deployment().FHEModelServer(str(self.dir))

    def run(self, request: Request, progress: bool = False) -> Response:
        if request.circuit_id != self.meta["circuit_id"]:
            raise DeploymentError(
                f"this server directory ({self.dir}) holds circuit {self.meta['circuit_id']} "
                f"but the request was encrypted for circuit {request.circuit_id}: the server "
                "directory comes from another model or another export")
        # Once per request, not per sample: handing the serialised keys to every run paid the
        # deserialisation (micro ViT: 6 s compressed, 25-32 s uncompressed) and the expansion
        # of compressed keys (20-30 s, during the first run of a key object) each time.
        start = time.perf_counter()
        keys = self.load_keys(request.evaluation_keys)
        key_seconds = time.perf_counter() - start
        items = request.ciphertexts
        if progress:
            from tqdm import tqdm
            items = tqdm(items, desc="encrypted inference", unit="sample")
        outs, seconds = [], []
        for ct in items:
            start = time.perf_counter()
            outs.append(self.run_one(ct, keys))
            seconds.append(time.perf_counter() - start)
            if progress:
                items.set_postfix(s_per_sample=f"{seconds[-1]:.1f}")
        return Response(request.circuit_id, request.key_id, outs, seconds, key_seconds)

    @staticmethod
    def load_keys(serialized: bytes):
        """Serialised evaluation keys -> the key object run_one takes. Raises DeploymentError
        for bytes that are not evaluation keys (garbage, truncated)."""
        try:
            return concrete.fhe().EvaluationKeys.deserialize(serialized)
        except RuntimeError as err:
            raise DeploymentError(f"not a set of evaluation keys ({err})") from None

    def run_one(self, ciphertext: bytes, keys) -> bytes:
        """One encrypted sample -> its encrypted output. Raises DeploymentError for bytes
        that are not a ciphertext of this circuit. Concrete releases the GIL while it runs,
        so threads may call this concurrently."""
        try:
            return self._fhe.run(ciphertext, keys)
        except RuntimeError as err:
            raise DeploymentError(f"not an encrypted input of this circuit ({err})") from None
