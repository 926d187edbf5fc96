"""Benchmark of polyzoo.fitting: minimax quality beside numpy's Chebyshev interpolation and least
squares at equal degree, warm jitted fit time, and vmapped batch throughput.

    .venv/bin/python bench/bench_fitting.py            # full (a few minutes on 2 cores)
    .venv/bin/python bench/bench_fitting.py --quick    # degrees 7 and 15 only

Errors of all three methods are measured the same way: max |f - p| over 200,001 equispaced
points plus the minimax reference points, in numpy float64 (for minimax, the larger of that and
the kernel's own refined maximum). Times are medians of repeated runs, after a warm-up call.
"""
from __future__ import annotations

import argparse
import statistics

import numpy as np

from _harness import in_turns, write

CASES = [  # (function, interval): absolute error
    ("gelu", (-8.0, 8.0)),
    ("relu", (-8.0, 8.0)),
    ("exp", (-16.0, 0.0)),
    ("tanh", (-8.0, 8.0)),
    ("reciprocal", (0.05, 10.0)),
    ("rsqrt", (0.05, 10.0)),
]


def numpy_fn(name):
    import jax.numpy as jnp
    from jax.experimental import enable_x64

    from polyzoo.fitting import FUNCTIONS

    def f(x):
        with enable_x64():
            return np.asarray(FUNCTIONS[name](jnp.asarray(np.asarray(x, np.float64))))

    return f


def dense_error(f, interval, cheb, extra=()):
    a, b = interval
    x = np.concatenate([np.linspace(a, b, 200_001), np.asarray(extra, np.float64)])
    t = (2 * x - a - b) / (b - a)
    return float(np.max(np.abs(f(x) - np.polynomial.chebyshev.chebval(t, cheb))))


def median_times(calls: dict, repeats: int) -> dict[str, float]:
    """{name: median seconds} of the calls taking turns (`_harness.in_turns`), input i each."""
    timed = in_turns(calls, repeats, log=None)
    return {k: statistics.median(t.seconds) for k, t in timed.items()}


def quality(degrees):
    from polyzoo.fitting import minimax

    print("## Quality: max error at equal degree (lower is better)\n")
    print("| function | interval | degree | minimax | certificate - 1 | numpy chebinterpolate |"
          " ratio | numpy chebfit (LS) | ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    worst, rows = [], []
    for name, (a, b) in CASES:
        f = numpy_fn(name)
        for n in degrees:
            fit = minimax(name, (a, b), n, warn=False)
            e_mm = max(float(fit.max_error), dense_error(f, (a, b), fit.cheb, fit.reference))
            interp = np.polynomial.chebyshev.chebinterpolate(
                lambda t: f((a + b) / 2 + (b - a) / 2 * t), n)
            ts = np.linspace(-1, 1, 20 * (n + 1))
            ls = np.polynomial.chebyshev.chebfit(ts, f((a + b) / 2 + (b - a) / 2 * ts), n)
            e_in = dense_error(f, (a, b), interp)
            e_ls = dense_error(f, (a, b), ls)
            gap = float(fit.max_error - fit.lower_bound)
            floor = gap <= 64 * float(fit.noise)
            cert = float(fit.certificate) - 1
            note = " (float64 floor)" if floor and cert > 1e-9 else ""
            print(f"| {name} | [{a:g}, {b:g}] | {n} | {e_mm:.3e} | {cert:.1e}{note} | "
                  f"{e_in:.3e} | {e_in / e_mm:.2f} | {e_ls:.3e} | {e_ls / e_mm:.2f} |", flush=True)
            worst.append((cert, floor, name, n))
            rows.append({"function": name, "interval": [a, b], "degree": n,
                         "minimax_error": e_mm, "certificate_minus_1": cert,
                         "chebinterpolate_error": e_in, "chebfit_error": e_ls,
                         "float64_floor": bool(floor and cert > 1e-9)})
    ok = all(c <= 1e-9 or fl for c, fl, _, _ in worst)
    bad = [(nm, n, c) for c, fl, nm, n in worst if c > 1e-9]
    print(f"\ncertificate <= 1 + 1e-9 everywhere above the float64 floor: {ok}; "
          f"above 1e-9 (all at the floor: {all(fl for c, fl, _, _ in worst if c > 1e-9)}): "
          f"{[(nm, n, f'{c:.1e}') for nm, n, c in bad]}\n")
    return rows


def speed(degrees, repeats):
    from polyzoo.fitting import minimax

    f = numpy_fn("gelu")
    print("## Speed: warm jitted minimax fit (GELU, a new interval every call) vs numpy\n")
    print("| degree | iterations | minimax fit (ms) | numpy chebinterpolate (ms) | ratio |")
    print("|---|---|---|---|---|")
    rows = []
    for n in degrees:
        minimax("gelu", (-8.0, 8.0), n)  # compile once
        fits = []
        t = median_times({
            "minimax": lambda i: fits.append(minimax("gelu", (-8.0, 8.0 + 0.01 * i), n)),
            "numpy": lambda i: np.polynomial.chebyshev.chebinterpolate(
                lambda t: f(0.005 * i + (8.0 + 0.005 * i) * t), n)}, repeats)
        t_mm, t_np = t["minimax"], t["numpy"]
        its = int(np.median([int(x.iterations) for x in fits]))
        print(f"| {n} | {its} | {t_mm * 1e3:.2f} | {t_np * 1e3:.2f} | {t_mm / t_np:.1f} |",
              flush=True)
        rows.append({"degree": n, "iterations": its, "minimax_s": t_mm, "numpy_s": t_np,
                     "ratio": t_mm / t_np})
    print()
    return rows


def throughput(degrees, batch=1000, repeats=3):
    from polyzoo.fitting import minimax

    f = numpy_fn("gelu")
    print(f"## Throughput: {batch} intervals in one vmapped call (GELU on [-r, r], r in [1, 8])\n")
    print("| degree | batched minimax (s) | per fit (ms) | numpy chebinterpolate x"
          f"{batch} (s) | ratio |")
    print("|---|---|---|---|---|")
    rows = []
    for n in degrees:
        def intervals(i):
            r = np.linspace(1.0, 8.0, batch) + 0.001 * i
            return np.stack([-r, r], axis=1)

        minimax("gelu", intervals(0), n, warn=False)  # compile once

        def numpy_batch(i):
            for r in intervals(i)[:, 1]:
                np.polynomial.chebyshev.chebinterpolate(lambda t: f(r * t), n)

        t = median_times({"minimax": lambda i: minimax("gelu", intervals(i + 1), n, warn=False),
                          "numpy": numpy_batch}, repeats)
        t_mm, t_np = t["minimax"], t["numpy"]
        print(f"| {n} | {t_mm:.3f} | {t_mm / batch * 1e3:.3f} | {t_np:.3f} | "
              f"{t_mm / t_np:.1f} |", flush=True)
        rows.append({"degree": n, "batch": batch, "minimax_s": t_mm, "numpy_s": t_np,
                     "ratio": t_mm / t_np})
    print()
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="degrees 7 and 15 only")
    args = parser.parse_args()
    import jax

    degrees = (7, 15) if args.quick else (7, 15, 31, 63)
    print(f"# polyzoo.fitting benchmark (jax {jax.__version__}, {jax.devices()[0].platform})\n")
    figures = {"quality": quality(degrees), "speed": speed(degrees, repeats=21),
               "throughput": throughput((15,) if args.quick else (15, 31)),
               "settings": vars(args)}
    print(f"wrote {write('fitting', figures)}")


if __name__ == "__main__":
    main()
