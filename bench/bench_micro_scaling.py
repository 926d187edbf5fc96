"""How an encrypted micro ViT's cost grows with its tokens and width, for both attentions.

    .venv/bin/python bench/bench_micro_scaling.py [--tokens 4 8 16] [--widths 8 16 32]
        [--steps-scale 0.25] [--n-sim 100] [--n-encrypted 3] [--encrypt-below 1e12]
        [--resume [--again CONFIG ...]]

Every configuration t<TOKENS>-w<WIDTH>-<dot|inhibitor>-client of bench_micro_frontier (one
layer, two heads, client embeds, the zoo's 6-bit grids and 7-bit rounding; 8 tokens are
patches of 14x7) is trained at --steps-scale of the zoo's budget (the circuit's size does not
depend on how long it trained; the accuracies recorded do, so they are not the frontier's),
compiled, simulated on the first --n-sim test digits and run encrypted on --n-encrypted
(key generation, then the first image apart and the median of the others) when its compiler
cost estimate is below --encrypt-below (the largest would take about 20 minutes per image
on 2 cores by the estimate, more on slower hosts). From the timed rows it prints the median
seconds per unit of cost estimate, the rate at which the cost estimate converts to seconds
on this host. Rows run from the smallest model up and are written after each
(bench/results/micro_scaling.json); --resume keeps the rows already measured at the same
--steps-scale and measures again those that ran no encrypted image where this run would time
one (so a run with --n-encrypted 0 can size every circuit while the host is busy, and a later
one times the affordable ones on a quiet host; until then the record keeps the untimed row)
and those named by --again. Each timed row records the host's load average before its key
generation. `bench/render_results.py` draws PBS and seconds per image against tokens and the
seconds against the cost estimate (docs/img/micro-scaling.png).
"""
from __future__ import annotations

import argparse
import json
import statistics

from _harness import RESULTS, write
from bench_micro_frontier import Config, measure_missing, mnist_inputs

NAME = "micro_scaling"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--widths", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--attentions", nargs="+", default=["dot", "inhibitor"],
                        choices=["dot", "inhibitor"])
    parser.add_argument("--steps-scale", type=float, default=0.25,
                        help="share of the zoo's training budgets (float stage and QAT)")
    parser.add_argument("--n-sim", type=int, default=100, help="test digits to simulate")
    parser.add_argument("--n-encrypted", type=int, default=3,
                        help="encrypted images per configuration (0: compile and simulate only)")
    parser.add_argument("--encrypt-below", type=float, default=1e12,
                        help="run encrypted only circuits whose compiler cost estimate is "
                             "below this (0.4 to 1.2 s per 1e10 here)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the rows already in the record at this --steps-scale")
    parser.add_argument("--again", nargs="+", default=[], metavar="CONFIG",
                        help="with --resume, measure these rows again (t4-w8-dot-client, ...), "
                             "for instance rows timed while the host was busy")
    args = parser.parse_args(argv)
    configs = sorted((Config.parse(f"t{t}-w{w}-{a}-client") for t in args.tokens
                      for w in args.widths for a in args.attentions),
                     key=lambda c: (c.tokens * c.width, c.tokens, c.attention))
    settings = {"steps_scale": args.steps_scale, "n_sim": args.n_sim,
                "n_encrypted": args.n_encrypted, "encrypt_below": args.encrypt_below}
    path = RESULTS / f"{NAME}.json"
    old = json.loads(path.read_text()) if args.resume and path.exists() else {}
    results = {k: v for k, v in old.get("results", {}).items()
               if v.get("steps_scale") == args.steps_scale}
    unknown = set(args.again) - {c.name for c in configs}
    if unknown:
        parser.error(f"--again names no configuration of this run: {', '.join(sorted(unknown))}"
                     f" (names look like t4-w8-dot-client)")
    redo = {k for k, v in results.items() if untimed(v, args)} | set(args.again)

    ds, inputs = mnist_inputs()
    for name, row in measure_missing(configs, results, ds, inputs, args, redo):
        secs = row.get("encrypted_s_per_image")
        print(f"{name:<24} PBS {row['pbs']:>6}  widest lookup {row['max_bit_width']} bits  "
              f"emulated {100 * row['emulated_test_accuracy']:.2f}%"
              + (f"  {secs:.1f} s/image" if secs else ""), flush=True)
        write(NAME, {"settings": settings, "dataset": "mnist", "results": results,
                     "seconds_per_cost": seconds_per_cost(results)})
    rate = seconds_per_cost(results)
    if rate:
        print(f"seconds per image / compiler cost estimate, median of the timed rows: "
              f"{rate:.3g} ({1e10 * rate:.2f} s per 1e10)")
    return 0


def untimed(row: dict, args) -> bool:
    """A row measured without the encrypted images this run asks of it (to measure again)."""
    return bool(args.n_encrypted and not row.get("encrypted_s_per_image")
                and row["complexity"] < args.encrypt_below)


def seconds_per_cost(results: dict) -> float | None:
    """Median over the timed rows of seconds per image / compiler cost estimate."""
    rates = [r["encrypted_s_per_image"] / r["complexity"] for r in results.values()
             if r.get("encrypted_s_per_image")]
    return statistics.median(rates) if rates else None


if __name__ == "__main__":
    raise SystemExit(main())
