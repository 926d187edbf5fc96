"""Encrypted latency of one circuit under Concrete's two partition strategies, in one run.

    .venv/bin/python bench/bench_partition.py [--n-encrypted 5]

Compiles the zoo entry 'vit-micro-mnist-qat' as `polyzoo export` does (trained grids, exact
rounding 7, p_error 1e-5) twice: with partition 'precision' (the default) and with
'precision_and_norm2' (`polyzoo export --partition precision_and_norm2`). The integers are the
same; the crypto parameters differ. For each: compile and key-generation seconds, key sizes,
PBS by polynomial size, the compiler's cost estimate, and encrypted seconds per image, the two
taking turns one image each per round (the first image of a key set also prepares the keys:
shown apart, the median is over the others), and whether every encrypted output equals the
simulation bit for bit.
"""
from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np

from bench_export import MICRO, encrypted_rounds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-encrypted", type=int, default=5)
    args = parser.parse_args(argv)

    from polyzoo.export import compile_onnx, to_onnx
    from polyzoo.export._report import format_sizes, pbs_per_polynomial_size
    from polyzoo.export._sources import default_knobs, resolve

    source = resolve(MICRO)
    x = np.asarray(source.test_x[:args.n_encrypted], np.float32)
    graph = to_onnx(source.export_fn, source.calibration[:1])
    paths = []
    for partition in ("precision", "precision_and_norm2"):
        knobs = dataclasses.replace(default_knobs(source), partition=partition)
        circuit = compile_onnx(graph, source.calibration, knobs)
        simulated = circuit.predict(x, fhe="simulate")  # compiles the simulation circuit too
        stats, fhe = circuit.fhe_circuit.statistics, circuit.fhe_circuit
        row = {"path": f"partition {partition}", "compile_s": round(circuit.compile_seconds, 1),
               "keygen_s": round(circuit.keygen(), 1),
               "key_gib": round((fhe.size_of_bootstrap_keys + fhe.size_of_keyswitch_keys)
                                / 2 ** 30, 2),
               "pbs": int(stats["programmable_bootstrap_count"]),
               "pbs_by_polynomial_size": format_sizes(pbs_per_polynomial_size(stats)),
               "compiler_complexity": float(stats["complexity"])}
        print(json.dumps(row), flush=True)
        paths.append((row, circuit.module, simulated))
    encrypted_rounds(paths, x, args.n_encrypted)

    (base, _, _), (split, _, _) = paths
    print(f"\n{MICRO}, {args.n_encrypted} test images encrypted per partition, in turns")
    print(f"{'path':32s} {'compile':>8s} {'keygen':>7s} {'keys':>8s} {'first':>6s} "
          f"{'s/img':>6s}  = sim  runs (s)")
    for r in (base, split):
        same = "yes" if r["encrypted_equals_simulated"] else "NO"
        print(f"{r['path']:32s} {r['compile_s']:7.1f}s {r['keygen_s']:6.1f}s "
              f"{r['key_gib']:4.2f} GiB {r['encrypted_first_s']:6.1f} "
              f"{r['encrypted_s_per_image']:6.1f}  {same:5s}  {r['encrypted_runs_s']}")
    print(f"time per image, precision_and_norm2 / precision: "
          f"{split['encrypted_s_per_image'] / base['encrypted_s_per_image']:.2f}x (first image "
          f"{split['encrypted_first_s'] / base['encrypted_first_s']:.2f}x); compiler cost model "
          f"{split['compiler_complexity'] / base['compiler_complexity']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
