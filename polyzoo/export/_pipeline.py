"""export_model: source -> ONNX (checked) -> circuit -> report -> client/server directories."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx

from polyzoo.export._check import check_onnx
from polyzoo.export._compile import Knobs, compile_onnx
from polyzoo.export._deploy import save_deployment
from polyzoo.export._report import CircuitReport, circuit_report
from polyzoo.export._sources import Source
from polyzoo.export._translate import to_onnx

N_REFERENCE = 8  # simulated outputs stored with the deployment, to check encrypted runs


def export_model(source: Source, out_dir: str | Path, knobs: Knobs, *, n_test: int | None = None,
                 n_calibration: int | None = None, progress: bool = False,
                 log=print) -> tuple[CircuitReport, Path]:
    """Export `source` into out_dir: model.onnx, report.json, client/, server/.

    Calibrates on the first n_calibration of `source.calibration` (default: all of them)."""
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} is not empty: choose a new --out directory")
    calib = np.asarray(source.calibration[:n_calibration], np.float32)
    target = source.export_fn or source.fn  # a QAT entry: with its trained quantisers
    graph = to_onnx(target, calib[:1])
    worst = check_onnx(graph, target, calib[:16])
    log(f"ONNX opset 14 graph: {len(graph.graph.node)} nodes, max |onnx - jax| = {worst:.2e}")
    log("compiling with Concrete-ML" + ("" if knobs.partition == "precision" else
                                        f" (partition {knobs.partition}: much slower, minutes)"))
    circuit = compile_onnx(graph, calib, knobs)
    log(f"compiled in {circuit.compile_seconds:.1f} s")
    x_test, y_test = source.test_x, source.test_y
    if n_test is not None:
        x_test, y_test = x_test[:n_test], y_test[:n_test]
    report = circuit_report(circuit, source.fn, x_test, y_test, progress=progress)
    reference = np.asarray(circuit.predict(x_test[:N_REFERENCE], fhe="simulate"))
    out.mkdir(parents=True, exist_ok=True)
    onnx.save(graph, out / "model.onnx")
    save_deployment(circuit, out, meta={
        "name": source.name, "dataset": source.dataset, "client_inputs": source.client,
        "reference": {"test_indices": list(range(len(reference))),
                      "simulated": reference.tolist()}})
    (out / "report.json").write_text(json.dumps(
        {"name": source.name, "dataset": source.dataset, **report.to_json(),
         "source": source.meta}, indent=2))
    return report, out
