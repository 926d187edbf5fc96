"""Concrete-ML compilation, circuit report, and a real encrypted execution (client/server) of a
tiny exported circuit that must equal its simulation; key separation and mismatch errors.

One small circuit (3 bits, 7 PBS; p_error 2^-20, so execution is bit-identical to the
simulation) is compiled and one key set generated for the whole module.
"""
import dataclasses
import functools
import json
import os
import re
import zipfile

import jax
import numpy as np
import pytest

from polyzoo.export import (CircuitTooWide, Client, DeploymentError, Knobs, QuantSpec, Server,
                            circuit_report, compile_onnx, save_deployment, to_onnx)
from polyzoo.export._deploy import agreement

from helpers.tiny_fhe import TinyMLP, compile_tiny, secret_key_chunks


@pytest.fixture(scope="module")
def tiny():
    return compile_tiny()


@pytest.fixture(scope="module")
def deployed(tiny, tmp_path_factory):
    _, circuit, _, _ = tiny
    root = tmp_path_factory.mktemp("deploy")
    save_deployment(circuit, root / "model", meta={"name": "tiny-mlp"})
    client = Client(root / "model" / "client", root / "keys")
    client.keygen()
    return root, client


def test_report(tiny):
    fn, circuit, x, labels = tiny
    report = circuit_report(circuit, fn, x[100:], labels[100:])
    assert report.pbs > 0 and sum(report.pbs_per_layer.values()) == report.pbs
    assert sum(report.pbs_per_polynomial_size.values()) == report.pbs
    assert all(size & (size - 1) == 0 for size in report.pbs_per_polynomial_size)  # 2**k
    assert {"TinyMLP/fc1", "TinyMLP/fc2"} <= set(report.pbs_per_layer)
    assert report.pbs_per_layer["TinyMLP/fc1"] == 4  # one lookup per hidden unit
    assert 0 < report.max_bit_width <= 16
    assert report.cost_estimate > 0 and "cost estimate" in report.summary()
    assert all(v > 0 for v in report.key_bytes.values())
    assert report.float_accuracy == 1.0  # labels are the float model's own predictions
    assert 0.5 < report.simulated_accuracy <= 1.0
    assert report.overflows == 0 and report.inputs_out_of_range == 0
    assert 0 < report.p_error <= 2.0 ** -20  # compiled at p_error 2^-20 per PBS
    assert report.sample_error_bound == pytest.approx(report.pbs * report.p_error)
    assert "PBS per layer" in report.summary() and "error probability" in report.summary()
    assert set(report.to_json()) >= {"pbs", "max_bit_width", "float_accuracy",
                                     "simulated_accuracy"}


def test_simulation_draws_pbs_errors_at_the_circuits_p_error(tiny):
    """Concrete's simulation is noisy like execution: at p_error 0.05 two simulations of the
    same inputs differ, at 2^-20 they agree. So "encrypted equals simulated" is a property of
    a circuit's error probability (`report.sample_error_bound`), not of the export alone."""
    fn, circuit, x, _ = tiny
    graph = to_onnx(fn, x[:1])
    noisy = compile_onnx(graph, x, Knobs(quant=QuantSpec(bits=3), p_error=0.05))
    assert noisy.fhe_circuit.p_error > 0.01
    differ = lambda c: int(np.sum(np.any(c.predict(x, fhe="simulate")  # noqa: E731
                                         != c.predict(x, fhe="simulate"), axis=-1)))
    assert differ(noisy) > 0 and differ(circuit) == 0


def test_partition_knob_reaches_concrete_and_keeps_the_integers(tiny):
    fn, circuit, x, _ = tiny
    with pytest.raises(ValueError, match="use one of precision, precision_and_norm2"):
        Knobs(partition="norm2")
    split = compile_onnx(to_onnx(fn, x[:1]), x,
                         dataclasses.replace(circuit.knobs, partition="precision_and_norm2"))
    assert split.fhe_circuit.configuration.multi_parameter_strategy.value == "precision_and_norm2"
    assert circuit.fhe_circuit.configuration.multi_parameter_strategy.value == "precision"
    np.testing.assert_array_equal(split.predict(x, fhe="disable"),
                                  circuit.predict(x, fhe="disable"))


def test_key_compression_knob_reaches_concrete_and_shrinks_the_keys(tiny, monkeypatch):
    fn, circuit, x, _ = tiny
    monkeypatch.setenv("USE_KEY_COMPRESSION", "0")  # the knob wins, and the caller's stays
    packed = compile_onnx(to_onnx(fn, x[:1]), x,
                          dataclasses.replace(circuit.knobs, compress_keys=True))
    assert os.environ["USE_KEY_COMPRESSION"] == "0"
    assert packed.fhe_circuit.configuration.compress_evaluation_keys
    assert not circuit.fhe_circuit.configuration.compress_evaluation_keys  # polyzoo's default
    sizes = []
    for c in (packed, circuit):
        c.keygen()
        sizes.append(len(c.fhe_circuit.keys.evaluation.serialize()))
    assert sizes[0] < sizes[1] / 1.5  # seeded: the random masks are not sent


def test_inputs_outside_calibrated_range_are_counted(tiny):
    fn, circuit, x, labels = tiny
    far = x[:10] * np.float32(50.0)
    assert circuit.out_of_range(far) > 0
    assert circuit_report(circuit, fn, far, labels[:10],
                          overflow_samples=0).inputs_out_of_range == circuit.out_of_range(far)


def test_too_wide_circuit_names_the_layer_and_the_knobs():
    x = np.random.default_rng(0).normal(size=(64, 32)).astype(np.float32)
    model = TinyMLP(hidden=16)
    fn = functools.partial(model.apply, model.init(jax.random.key(0), x[:1]))
    with pytest.raises(CircuitTooWide, match=r"\d\d-bit .* after layer TinyMLP/fc1: lower "
                                             r"the bit-width .*--rounding"):
        compile_onnx(to_onnx(fn, x[:1]), x, Knobs(quant=QuantSpec(bits=8)))


def test_encrypted_execution_equals_simulation(tiny, deployed):
    _, circuit, x, _ = tiny
    root, client = deployed
    server = Server(root / "model" / "server")
    request = client.encrypt(x[:2])
    response = server.run(request)
    decrypted = client.decrypt(response)
    simulated = circuit.predict(x[:2], fhe="simulate")
    np.testing.assert_array_equal(decrypted, simulated)
    assert len(response.seconds) == 2 and all(s > 0 for s in response.seconds)
    # As `polyzoo run-encrypted` compares: against the simulation stored at export as JSON.
    stored = json.loads(json.dumps({"simulated": simulated.tolist()}))["simulated"]
    same_class, same_logits = agreement(decrypted, stored)
    assert same_class.all() and same_logits.all()
    assert not np.array_equal(decrypted, np.float32(stored))  # why the comparison is float64


def test_server_directory_holds_no_secret_key(deployed):
    root, client = deployed
    server_dir = root / "model" / "server"
    blobs = []
    for path in server_dir.rglob("*"):
        if path.is_file():
            blobs.append(path.read_bytes())
            if zipfile.is_zipfile(path):
                with zipfile.ZipFile(path) as archive:
                    names = archive.namelist()
                    assert not any(re.search("secret|key", n, re.I) for n in names), names
                    blobs += [archive.read(n) for n in names]
    for chunk in secret_key_chunks(client.key_dir):
        assert not any(chunk in blob for blob in blobs)
    # ...and the request the server receives carries evaluation keys only.
    request = client.encrypt(np.zeros((1, 4), np.float32))
    for chunk in secret_key_chunks(client.key_dir):
        assert chunk not in request.evaluation_keys


def test_server_directory_from_another_export_is_refused(tiny, deployed):
    _, circuit, x, _ = tiny
    root, client = deployed
    save_deployment(circuit, root / "other")
    request = client.encrypt(x[:1])
    with pytest.raises(DeploymentError, match="another model"):
        Server(root / "other" / "server").run(request)


def test_keys_of_another_circuit_are_refused(deployed):
    root, client = deployed
    if not (root / "other").exists():
        pytest.skip("needs the 'other' export")
    with pytest.raises(DeploymentError, match="belong to circuit"):
        Client(root / "other" / "client", client.key_dir)


def test_missing_and_mismatched_keys(tiny, deployed, tmp_path):
    _, _, x, _ = tiny
    root, client = deployed
    fresh = Client(root / "model" / "client", tmp_path / "no-keys")
    with pytest.raises(DeploymentError, match="no keys"):
        fresh.encrypt(x[:1])
    response = Server(root / "model" / "server").run(client.encrypt(x[:1]))
    with pytest.raises(DeploymentError, match="computed under keys"):
        client.decrypt(dataclasses.replace(response, key_id="0" * 32))


def test_not_a_deployment_directory(tmp_path):
    with pytest.raises(DeploymentError, match="not a polyzoo server directory"):
        Server(tmp_path)
