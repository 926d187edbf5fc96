"""Where the micro ViT's accuracy goes under TFHE: Concrete-ML's own grids vs the trained ones.

Two export routes of the zoo entry `vit-micro-mnist-qat`, one compilation per row:
  ptq  the folded float network; Concrete-ML calibrates and quantises it itself (post-training)
  qat  the same network with its trained quantisers as Quant nodes (`micro.export_function`);
       Concrete-ML imports those grids (`import_qat=True`): rounding and product bits are the
       ones the entry was trained for, and rounding is exact (what training emulated).
For each row, over the test split: float accuracy, the circuit without PBS errors
(fhe='disable'), for qat the JAX emulation of that circuit, the simulated circuit
(fhe='simulate'), the compiler's cost estimate relative to the first row (a rough guide:
Concrete picks each lookup's parameters by its input width, which the estimate weighs less
than latency does; README, Status), PBS and the widest integer; for qat rows also how many
images' no-noise logits differ from the emulation's.

    .venv/bin/python bench/bench_export_knobs.py [--rows ptq:6:8:0.05 qat:1e-5] [--n-test N]

A row is `ptq:N_BITS:ROUNDING:P_ERROR` or `qat:P_ERROR[:ROUNDING]` (a rounding other than the
entry's own compiles the trained grids with it; the emulation keeps the trained rounding).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from _harness import write

MICRO = "vit-micro-mnist-qat"


def logits(fn, x: np.ndarray, chunk: int = 250) -> np.ndarray:
    return np.concatenate([np.asarray(fn(x[i:i + chunk])) for i in range(0, len(x), chunk)])


def predictions(fn, x: np.ndarray) -> np.ndarray:
    return np.argmax(logits(fn, x), -1)


def routes(name: str):
    """(float fn, qat export fn, qat emulated fn, qat record, train inputs, test x, test y)."""
    from polyzoo import models, zoo
    from polyzoo.export import micro
    from polyzoo.train import data

    entry = zoo.load(name)
    record = entry.meta.get("qat") or {}
    if not record.get("ranges"):
        raise ValueError(f"{name} has no trained grids: retrain it (`polyzoo train "
                         "vit_micro_mnist_qat`)")
    model, variables = models.fold_batchnorms(entry.model, entry.variables)
    ds = data.load(entry.meta["dataset"])
    float_fn = lambda xb: model.apply(variables, xb)  # noqa: E731
    return (float_fn, micro.export_function(model, variables, record),
            micro.emulated_function(model, variables, record), record, ds.train.inputs,
            ds.test.inputs, ds.test.labels)


def main() -> None:
    import jax

    from polyzoo.export import Knobs, QuantSpec, compile_onnx, to_onnx
    from polyzoo.export import format_sizes, micro, pbs_per_polynomial_size

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=MICRO)
    parser.add_argument("--rows", nargs="+", default=["ptq:6:8:0.05", "qat:1e-5"])
    parser.add_argument("--n-test", type=int, default=None, help="default: the whole split")
    args = parser.parse_args()

    float_fn, export_fn, emulated_fn, record, train_x, x, y = routes(args.model)
    x, y = x[:args.n_test], y[:args.n_test]
    calibration = np.asarray(train_x[:record.get("calibration", micro.CALIBRATION)], np.float32)
    float_acc = np.mean(predictions(float_fn, x) == y)
    emulated = logits(jax.jit(emulated_fn), x)
    emulated_acc = np.mean(np.argmax(emulated, -1) == y)
    with jax.disable_jit():  # the same emulation op by op, as written, on the first 100 images
        eager = logits(emulated_fn, x[:100])
    graphs = {"ptq": to_onnx(float_fn, calibration[:1]), "qat": to_onnx(export_fn, calibration[:1])}
    print(f"{args.model}, {len(y)} test images, float accuracy {100 * float_acc:.2f}%, "
          f"trained grids: {record['n_bits']} bits, rounding {record['rounding_bits']}, "
          f"product operands {record.get('product_bits')} bits, weights "
          f"{record.get('weight_bits') or record['n_bits']} bits; JAX emulation of that circuit "
          f"{100 * emulated_acc:.2f}%")
    print(f"{'route and knobs':<46} {'PBS':>5} {'bits':>4} {'cost':>6} {'no noise':>9} "
          f"{'simulated':>9} {'sim-float':>9} {'s':>5}")
    base_cost, rows = None, []
    for row in args.rows:
        route, *values = row.split(":")
        rounding = None
        if route == "ptq" and len(values) == 3:
            knobs = Knobs(quant=QuantSpec(bits=int(values[0]), rounding_bits=int(values[1])),
                          p_error=float(values[2]))
        elif route == "qat" and len(values) in (1, 2):
            rounding = int(values[1]) if len(values) == 2 else record["rounding_bits"]
            trained = QuantSpec.from_record(record)
            knobs = Knobs(quant=QuantSpec(bits=trained.bits, rounding_bits=rounding,
                                          input_bits=trained.input_bits),
                          p_error=float(values[0]))
        else:
            raise ValueError(f"row {row!r}: use ptq:N_BITS:ROUNDING:P_ERROR or "
                             "qat:P_ERROR[:ROUNDING]")
        start = time.perf_counter()
        circuit = compile_onnx(graphs[route], calibration, knobs)
        stats = circuit.fhe_circuit.statistics
        clear = logits(lambda b: circuit.predict(b, fhe="disable"), x)
        quantised = np.mean(np.argmax(clear, -1) == y)
        simulated = np.mean(predictions(lambda b: circuit.predict(b, fhe="simulate"), x) == y)
        cost = float(stats["complexity"])
        base_cost = base_cost or cost
        method = knobs.concrete_rounding(route == "qat")["method"]
        name = (f"{route} n_bits {knobs.quant.bits}, round {knobs.quant.rounding_bits} "
                f"({method[:5]}), p_error {knobs.p_error:g}")
        print(f"{name:<46} {stats['programmable_bootstrap_count']:5d} "
              f"{circuit.fhe_circuit.graph.maximum_integer_bit_width():4d} "
              f"{cost / base_cost:5.2f}x {100 * quantised:8.2f}% {100 * simulated:8.2f}% "
              f"{100 * (simulated - float_acc):+9.2f} {time.perf_counter() - start:5.0f}",
              flush=True)
        print("  PBS by polynomial size (Concrete picks it by the lookup's input width): "
              + format_sizes(pbs_per_polynomial_size(stats)))
        rows.append({"row": row, "knobs": knobs.to_json(),
                     "pbs": int(stats["programmable_bootstrap_count"]),
                     "max_bit_width": int(circuit.fhe_circuit.graph.maximum_integer_bit_width()),
                     "complexity": cost, "no_noise_accuracy": float(quantised),
                     "simulated_accuracy": float(simulated), "float_accuracy": float(float_acc),
                     "n_test": int(len(y)),
                     "pbs_per_polynomial_size": {str(k): v for k, v in
                                                 pbs_per_polynomial_size(stats).items()}})
        if route == "qat" and rounding == record["rounding_bits"]:  # the circuit QAT trained
            # through: does it compute the emulation?
            for label, reference in (("jitted", emulated), ("eager", eager)):
                gap = np.abs(clear[:len(reference)] - reference).max(-1)
                print(f"  no noise vs the {label} JAX emulation: {int(np.sum(gap > 1e-4))} of "
                      f"{len(reference)} images differ by more than 1e-4 (largest logit "
                      f"difference {gap.max():.2g})")
    print("cost: the compiler's complexity estimate relative to the first row (a rough guide "
          "to latency); no noise: fhe='disable', the circuit's integers without PBS errors")
    figures = {"model": args.model, "rows": rows, "settings": vars(args)}
    print(f"wrote {write('export_knobs', figures)}")


if __name__ == "__main__":
    main()
