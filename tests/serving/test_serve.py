"""`polyzoo serve` for real: a uvicorn server in a subprocess on a free port of 127.0.0.1,
serving the tiny circuit, and `RemoteClient`s talking to it.

An encrypted request equals the simulation; bad requests get a 4xx JSON error naming what was
wrong, leave nothing half-written in the key directory, and the server keeps answering; four
clients with their own keys at once; a full queue answers 503; a server killed mid-upload and
restarted keeps the keys uploaded before, and a second instance on the same key directory
serves them too.
"""
import json
import socket
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from polyzoo.export import Client, DeploymentError, RemoteClient, ServerError, save_deployment
from polyzoo.export import _protocol as proto
from polyzoo import serving
from polyzoo.serving.keystore import INCOMING

from helpers.tiny_fhe import compile_tiny, secret_key_chunks


def _serve(deployment: Path, key_dir: Path, *flags: str, port: int | None = None):
    running = serving.start(deployment, key_dir, *flags, port=port)
    return running.process, running.url


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    _, circuit, x, _ = compile_tiny()
    root = tmp_path_factory.mktemp("serve")
    save_deployment(circuit, root / "model", meta={"name": "tiny-mlp"})
    save_deployment(circuit, root / "other", meta={"name": "tiny-mlp-other"})
    expected = np.asarray(circuit.predict(x[:8], fhe="simulate"))
    proc, url = _serve(root / "model", root / "server_keys", "--max-request-size", "64K",
                       "--max-key-size", "1G", "--queue", "2")
    state = {"root": root, "url": url, "proc": proc, "x": x, "expected": expected,
             "keys": root / "server_keys"}
    yield state
    state["proc"].kill()


@pytest.fixture(scope="module")
def remote(served):
    client = RemoteClient(served["url"], served["root"] / "model" / "client",
                          served["root"] / "keys")
    key_id, uploaded = client.ensure_keys()
    assert uploaded
    yield client
    client.close()


def _key_sets(key_dir: Path) -> set[str]:
    return {p.name for p in key_dir.iterdir() if p.name != INCOMING}


def _post(url, route, body, **headers):
    return httpx.post(f"{url}/v1/{route}", content=body, timeout=60,
                      headers={"Content-Type": proto.OCTET, **headers})


def _assert_error(answer, status, code):
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["error"] == code and body["detail"], body


def test_info_and_health(served, remote):
    info = remote.info()
    assert info["name"] == "tiny-mlp" and info["input_shape"] == [4]
    assert info["circuit_id"] == remote.client.meta["circuit_id"]
    assert info["client_computes"].startswith("nothing")
    assert info["limits"]["max_request_bytes"] == 64 << 10
    health = httpx.get(f"{served['url']}/v1/health").json()
    assert health["status"] == "ok" and health["capacity"] == 3


def test_encrypted_request_equals_simulation(served, remote):
    logits, timings = remote.predict(served["x"][:3])
    np.testing.assert_array_equal(logits, served["expected"][:3])
    assert all(t["seconds"] >= t["server_seconds"] > 0 for t in timings)
    key_id = json.loads((remote.client.key_dir / "remote_keys.json").read_text())[served["url"]]
    assert remote.ensure_keys() == (key_id, False)  # the server still holds them


def test_client_sends_no_secret_key(served, remote):
    sent = [remote.client.evaluation_keys(), remote.client.encrypt_one(served["x"][0])]
    stored = [p.read_bytes() for p in served["keys"].rglob("*") if p.is_file()]
    for chunk in secret_key_chunks(remote.client.key_dir):
        assert not any(chunk in blob for blob in sent + stored)


def test_garbage_and_truncated_ciphertexts(served, remote):
    key_id = remote.ensure_keys()[0]
    good = remote.client.encrypt_one(served["x"][0])
    for body in (b"garbage" * 10, good[:len(good) // 2]):
        _assert_error(_post(served["url"], "predict", body, **{proto.KEY_HEADER: key_id}),
                      400, "bad_ciphertext")
    np.testing.assert_array_equal(remote.predict(served["x"][:1])[0], served["expected"][:1])


def test_bad_keys_unknown_ids_limits_content_type(served, remote):
    url, keys = served["url"], served["keys"]
    before = _key_sets(keys)
    circuit = {proto.CIRCUIT_HEADER: remote.client.meta["circuit_id"]}
    _assert_error(_post(url, "keys", b"not keys" * 100, **circuit), 400, "bad_keys")
    _assert_error(_post(url, "keys", b"x", **{proto.CIRCUIT_HEADER: "0" * 32}), 409,
                  "wrong_circuit")
    _assert_error(_post(url, "keys", b"x"), 400, "missing_circuit_id")
    for key_id in ("A" * 32, "../../etc"):
        _assert_error(_post(url, "predict", b"x", **{proto.KEY_HEADER: key_id}), 404,
                      "unknown_key")
    _assert_error(httpx.get(f"{url}/v1/keys/{'B' * 32}"), 404, "unknown_key")
    key_id = remote.ensure_keys()[0]
    _assert_error(_post(url, "predict", b"\0" * (65 << 10), **{proto.KEY_HEADER: key_id}),
                  413, "too_large")
    answer = httpx.post(f"{url}/v1/predict", json={"x": [0, 1]},
                        headers={proto.KEY_HEADER: key_id})
    _assert_error(answer, 415, "wrong_content_type")
    _assert_error(httpx.get(f"{url}/predict"), 404, "not_found")
    # A declared size over the limit is refused before the body is read.
    with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1]))) as sock:
        sock.sendall(_head("/v1/keys", 2 << 30, circuit) + b"x" * 1000)
        status = sock.recv(4096).split(b"\r\n")[0]
    assert b" 413 " in status, status
    assert _key_sets(keys) == before and not any((keys / INCOMING).iterdir())
    np.testing.assert_array_equal(remote.predict(served["x"][:1])[0], served["expected"][:1])


def _head(route: str, length: int, headers: dict) -> bytes:
    lines = [f"POST {route} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {proto.OCTET}",
             f"Content-Length: {length}"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_keys_of_another_circuit_are_refused(served):
    other = RemoteClient(served["url"], served["root"] / "other" / "client",
                         served["root"] / "other-keys")
    with pytest.raises(DeploymentError, match="serves circuit"):
        other.info()
    other.client.keygen()
    with pytest.raises(ServerError, match="wrong_circuit") as err:
        other.upload_keys()
    assert err.value.status == 409
    other.close()


def test_client_disconnecting_mid_upload_leaves_nothing(served, remote):
    keys, before = served["keys"], _key_sets(served["keys"])
    circuit = {proto.CIRCUIT_HEADER: remote.client.meta["circuit_id"]}
    with socket.create_connection(("127.0.0.1", int(served["url"].rsplit(":", 1)[1]))) as sock:
        sock.sendall(_head("/v1/keys", 50 << 20, circuit) + b"\0" * (1 << 20))
        time.sleep(0.5)
    deadline = time.monotonic() + 20
    while any((keys / INCOMING).iterdir()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any((keys / INCOMING).iterdir()) and _key_sets(keys) == before
    np.testing.assert_array_equal(remote.predict(served["x"][:1])[0], served["expected"][:1])


def test_full_queue_answers_503_with_retry_after(served, remote):
    key_id = remote.ensure_keys()[0]
    body = remote.client.encrypt_one(served["x"][0])
    barrier, answers = threading.Barrier(12), []

    def fire():
        barrier.wait()
        answers.append(_post(served["url"], "predict", body, **{proto.KEY_HEADER: key_id}))
    threads = [threading.Thread(target=fire) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    busy = [a for a in answers if a.status_code == 503]
    assert busy, [a.status_code for a in answers]  # capacity is 3 (1 worker, queue 2)
    assert all(a.json()["error"] == "busy" and int(a.headers["Retry-After"]) >= 1 for a in busy)
    done = [a for a in answers if a.status_code == 200]
    assert len(done) >= 3 and len(done) + len(busy) == 12
    for a in done:
        np.testing.assert_array_equal(remote.client.decrypt_ciphertexts([a.content]),
                                      served["expected"][:1])


def test_four_concurrent_clients_each_with_its_own_keys(served):
    results, errors = {}, []

    def one(i):
        try:
            with RemoteClient(served["url"], served["root"] / "model" / "client",
                              served["root"] / f"client-{i}-keys") as client:
                client.ensure_keys()
                results[i] = client.predict(served["x"][2 * i:2 * i + 2])[0]
        except Exception as err:  # reported below, with the client's number
            errors.append((i, err))
    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for i in range(4):
        np.testing.assert_array_equal(results[i], served["expected"][2 * i:2 * i + 2])
    ids = {json.loads((served["root"] / f"client-{i}-keys" / "remote_keys.json").read_text())
           [served["url"]] for i in range(4)}
    assert len(ids) == 4


def test_restart_and_a_second_instance_on_the_same_keys(served, remote):
    root, keys, url = served["root"], served["keys"], served["url"]
    key_id = remote.ensure_keys()[0]
    # A second instance on the same key directory serves keys uploaded through the first.
    second, second_url = _serve(root / "model", keys)
    try:
        ct = remote.client.encrypt_one(served["x"][1])
        answer = _post(second_url, "predict", ct, **{proto.KEY_HEADER: key_id})
        assert answer.status_code == 200, answer.text
        np.testing.assert_array_equal(remote.client.decrypt_ciphertexts([answer.content]),
                                      served["expected"][1:2])
    finally:
        second.kill()
    # Kill the first mid-upload (another client's keys), restart it on the same port.
    fresh = Client(root / "model" / "client", root / "restart-keys")
    fresh.keygen()
    data = fresh.evaluation_keys()
    with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1]))) as sock:
        sock.sendall(_head("/v1/keys", len(data), {proto.CIRCUIT_HEADER: fresh.meta[
            "circuit_id"]}) + data[:len(data) // 3])
        time.sleep(0.5)
        served["proc"].kill()
        served["proc"].wait()
    before = _key_sets(keys)
    served["proc"], _ = _serve(root / "model", keys, "--max-request-size", "64K",
                               port=int(url.rsplit(":", 1)[1]))
    assert not any((keys / INCOMING).iterdir())  # the dead upload was swept at start
    assert _key_sets(keys) == before and key_id in before
    assert remote.ensure_keys() == (key_id, False)
    np.testing.assert_array_equal(remote.predict(served["x"][:2])[0], served["expected"][:2])
