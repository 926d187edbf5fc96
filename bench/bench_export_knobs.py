"""Where the micro ViT's accuracy goes under TFHE: quantisation versus PBS error probability.

For each p_error, compile `vit-micro-mnist-qat` once and measure on the whole test split the
float model, the quantised circuit without PBS noise (fhe='disable') and the simulated circuit
(fhe='simulate'), beside the compiler's cost estimate (relative to the first setting).

    .venv/bin/python bench/bench_export_knobs.py [--p-errors 0.05 0.01 0.001] [--n-test N]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from polyzoo.export import compile_onnx, to_onnx
from polyzoo.export._sources import default_knobs, resolve


def predictions(fn, x: np.ndarray, chunk: int = 256) -> np.ndarray:
    return np.concatenate([np.argmax(np.asarray(fn(x[i:i + chunk])), -1)
                           for i in range(0, len(x), chunk)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vit-micro-mnist-qat")
    parser.add_argument("--p-errors", type=float, nargs="+", default=[0.05, 0.01, 0.001])
    parser.add_argument("--n-test", type=int, default=None, help="default: the whole split")
    args = parser.parse_args()

    source = resolve(args.model)
    calibration = np.asarray(source.calibration[:1000], np.float32)
    graph = to_onnx(source.fn, calibration[:1])
    x, y = source.test_x[:args.n_test], source.test_y[:args.n_test]
    float_acc = np.mean(predictions(source.fn, x) == y)
    print(f"{args.model}, {len(y)} test images, float accuracy {100 * float_acc:.2f}%")
    print(f"{'knobs':<40} {'no noise':>9} {'simulated':>9} {'sim - float':>11} "
          f"{'cost':>6} {'s':>5}")
    base_cost = None
    for p_error in args.p_errors:
        start = time.perf_counter()
        knobs = default_knobs(source, p_error=p_error)
        circuit = compile_onnx(graph, calibration, knobs)
        quantised = np.mean(predictions(lambda b: circuit.predict(b, fhe="disable"), x) == y)
        simulated = np.mean(predictions(lambda b: circuit.predict(b, fhe="simulate"), x) == y)
        cost = float(circuit.fhe_circuit.statistics["complexity"])
        base_cost = base_cost or cost
        name = (f"n_bits {knobs.n_bits}, rounding {knobs.rounding_threshold_bits}, "
                f"p_error {p_error:g}")
        print(f"{name:<40} {100 * quantised:8.2f}% {100 * simulated:8.2f}% "
              f"{100 * (simulated - float_acc):+10.2f} {cost / base_cost:5.2f}x "
              f"{time.perf_counter() - start:5.0f}", flush=True)
    print("cost: the compiler's complexity estimate relative to the first row (encrypted latency "
          "follows it); no noise: fhe='disable', the quantised integers without PBS errors")


if __name__ == "__main__":
    main()
