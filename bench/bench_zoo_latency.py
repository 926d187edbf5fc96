"""Encrypted seconds per image of several zoo entries, in one run, in turns.

    .venv/bin/python bench/bench_zoo_latency.py [--entries A B ...] [--n-sim 2000]
        [--n-encrypted 6]

This host's speed moves by about a quarter between runs, so two circuits timed in separate
runs cannot be ranked; here every entry encrypts the same test digit in each round. Each entry
is compiled as `polyzoo export` compiles it (its trained grids, its knobs, p_error 1e-5) and
simulated on the first --n-sim test digits; then key generation, and --n-encrypted images per
entry in turns (the first apart, the median of the others), each output compared with its
simulation. Prints each entry's seconds against the first entry's (the reference) and against
the issue's 60 s; writes bench/results/zoo_latency.json.
"""
from __future__ import annotations

import argparse

from _harness import encrypted_in_turns, write
from bench_encrypted_peer import keygen, polyzoo_side

DEFAULT_ENTRIES = ("vit-micro-mnist-inhibitor-w24-q4", "vit-micro-mnist-inhibitor-w24-q4-b5")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", nargs="+", default=list(DEFAULT_ENTRIES),
                        help="zoo entries with an encrypted path; the first is the reference")
    parser.add_argument("--n-sim", type=int, default=2000, help="test digits to simulate")
    parser.add_argument("--n-encrypted", type=int, default=6, help="encrypted images per entry")
    args = parser.parse_args(argv)
    if args.n_encrypted < 2:
        parser.error("--n-encrypted must be at least 2: the first image is reported apart")

    sides = []
    for entry in args.entries:
        row, module, x, simulated = polyzoo_side(entry, max(args.n_sim, args.n_encrypted))
        row["compiler_complexity"] = float(module.fhe_circuit.statistics["complexity"])
        keygen(row, module.fhe_circuit)
        print(row, flush=True)
        sides.append((row, module, x, simulated))
    figures = encrypted_in_turns(
        {row["model"]: ((lambda xb, m=module: m.forward(xb, fhe="execute")), x, simulated)
         for row, module, x, simulated in sides}, args.n_encrypted,
        log=lambda line: print(line, flush=True))
    rows = [row | figures[row["model"]] for row, *_ in sides]

    reference = rows[0]
    print(f"\n{args.n_encrypted} test digits encrypted per entry, in turns")
    print(f"{'entry':40s} {'simulated':>10s} {'PBS':>6s} {'first':>7s} {'s/img':>7s}  "
          f"{'/ ref':>6s}  = sim")
    for r in rows:
        ratio = r["encrypted_s_per_image"] / reference["encrypted_s_per_image"]
        r["s_per_image_over_reference"] = round(ratio, 3)
        print(f"{r['model']:40s} {100 * r['simulated_accuracy']:9.2f}% {r['pbs']:6d} "
              f"{r['encrypted_first_s']:7.1f} {r['encrypted_s_per_image']:7.1f}  "
              f"{ratio:5.2f}x  {r['encrypted_equal_outputs']}  "
              f"({'within' if r['encrypted_s_per_image'] <= 60 else 'over'} 60 s)")
    print(f"wrote {write('zoo_latency', {'settings': vars(args), 'entries': rows})}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
