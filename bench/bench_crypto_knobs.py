"""Encrypted latency of one circuit under two settings of a Concrete knob, in one run.

    .venv/bin/python bench/bench_crypto_knobs.py [--vary compress_keys] [--n-encrypted 5]
    .venv/bin/python bench/bench_crypto_knobs.py --vary partition [--n-encrypted 5] \
        [--entry vit-micro-mnist-inhibitor-w24]

Compiles a zoo entry (default 'vit-micro-mnist-qat') as `polyzoo export` does (its trained
grids and rounding, p_error 1e-5) twice, with polyzoo's default and with the other setting of
one knob that leaves the integers alone:
  partition      'precision' (default) against 'precision_and_norm2' (`--partition`): how
                 Concrete groups the lookups that share crypto parameters;
  compress_keys  uncompressed (default) against compressed evaluation keys (`--compress-keys`).
For each: compile and key-generation seconds, key sizes (in memory, and the evaluation keys as
the client sends them), PBS by polynomial size, the compiler's cost estimate, and encrypted
seconds per image, the two taking turns one image each per round (the first image of a key
set is shown apart: compressed keys are expanded during it; the median is over the others),
and whether every encrypted output equals the simulation bit for bit.
"""
from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np

from _harness import write
from bench_export import MICRO, encrypted_rounds

SETTINGS = {"partition": ("precision", "precision_and_norm2"), "compress_keys": (False, True)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vary", choices=sorted(SETTINGS), default="compress_keys")
    parser.add_argument("--n-encrypted", type=int, default=5)
    parser.add_argument("--entry", default=MICRO, help=f"the zoo entry (default {MICRO})")
    args = parser.parse_args(argv)

    from polyzoo.export import compile_onnx, to_onnx
    from polyzoo.export import default_knobs, format_sizes, pbs_per_polynomial_size, resolve

    source = resolve(args.entry)
    x = np.asarray(source.test_x[:args.n_encrypted], np.float32)
    graph = to_onnx(source.export_fn, source.calibration[:1])
    paths = []
    for value in SETTINGS[args.vary]:
        knobs = dataclasses.replace(default_knobs(source), **{args.vary: value})
        circuit = compile_onnx(graph, source.calibration, knobs)
        simulated = circuit.predict(x, fhe="simulate")  # compiles the simulation circuit too
        stats, fhe = circuit.fhe_circuit.statistics, circuit.fhe_circuit
        row = {"path": f"{args.vary}={value}", "compile_s": round(circuit.compile_seconds, 1),
               "keygen_s": round(circuit.keygen(), 1),
               "key_gib": round((fhe.size_of_bootstrap_keys + fhe.size_of_keyswitch_keys)
                                / 2 ** 30, 2),
               "sent_key_gib": round(len(fhe.keys.evaluation.serialize()) / 2 ** 30, 2),
               "pbs": int(stats["programmable_bootstrap_count"]),
               "pbs_by_polynomial_size": format_sizes(pbs_per_polynomial_size(stats)),
               "compiler_complexity": float(stats["complexity"])}
        print(json.dumps(row), flush=True)
        paths.append((row, circuit.module, simulated))
    encrypted_rounds(paths, x, args.n_encrypted)

    (base, _, _), (other, _, _) = paths
    print(f"\n{args.entry}, {args.n_encrypted} test images encrypted per setting, in turns")
    print(f"{'path':34s} {'compile':>8s} {'keygen':>7s} {'keys':>8s} {'sent':>8s} "
          f"{'first':>6s} {'s/img':>6s}  = sim  runs (s)")
    for r in (base, other):
        same = "yes" if r["encrypted_equals_simulated"] else "NO"
        print(f"{r['path']:34s} {r['compile_s']:7.1f}s {r['keygen_s']:6.1f}s "
              f"{r['key_gib']:4.2f} GiB {r['sent_key_gib']:4.2f} GiB "
              f"{r['encrypted_first_s']:6.1f} {r['encrypted_s_per_image']:6.1f}  {same:5s}  "
              f"{r['encrypted_runs_s']}")
    print(f"time per image, {other['path']} / {base['path']}: "
          f"{other['encrypted_s_per_image'] / base['encrypted_s_per_image']:.2f}x (first image "
          f"{other['encrypted_first_s'] / base['encrypted_first_s']:.2f}x); compiler cost model "
          f"{other['compiler_complexity'] / base['compiler_complexity']:.2f}x")
    name = f"crypto_knobs_{args.vary}" + ("" if args.entry == MICRO else f"_{args.entry}")
    print(f"wrote {write(name, {'paths': [base, other], 'settings': vars(args)})}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
