"""`polyzoo fit`: minimax polynomial of a function on an interval; `polyzoo fit-library`."""
from __future__ import annotations

import json


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "fit",
        help="fit a minimax polynomial (Remez exchange)",
        description="Best uniform polynomial approximation of FUNCTION on [A, B] of degree N.",
    )
    p.add_argument("function", metavar="FUNCTION",
                   help="a name of polyzoo.fitting.FUNCTIONS (gelu, exp, rsqrt, reciprocal, "
                        "...; a wrong name lists them) or a module:function path")
    p.add_argument("--interval", nargs=2, type=float, metavar=("A", "B"), required=True)
    p.add_argument("--degree", type=int, required=True, metavar="N")
    p.add_argument("--relative", action="store_true", help="minimise the relative error")
    p.add_argument("--parity", choices=("even", "odd"), help="fit with even or odd terms only")
    p.add_argument("--eps", type=float, metavar="E",
                   help="gap around 0 as a fraction of B, in (0, 1): fit on [-B,-E*B] U [E*B,B] "
                        "(needed for sign)")
    p.add_argument("--max-iter", type=int, default=60, help="exchange iteration cap")
    p.add_argument("--plot", metavar="FILE.png", help="draw f, p and the error curve")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)

    lib = subparsers.add_parser(
        "fit-library",
        help="regenerate the fitted-polynomial library in fitting/",
        description="Refit every entry of polyzoo.fitting.library and rewrite fitting/.",
    )
    lib.set_defaults(func=run_library)


def run_library(args) -> int:
    from polyzoo.fitting import library

    records = library.regenerate()
    print(f"wrote {len(records)} entries to {library.LIBRARY_JSON}")
    return 0


def fit_from_args(args):
    """The MinimaxFit the flags ask for (ValueError with a fix for bad flags)."""
    from polyzoo.fitting import minimax

    parity, gap = args.parity, 0.0
    if args.eps is not None:
        if not 0.0 < args.eps < 1.0:
            raise ValueError(f"--eps must be in (0, 1), got {args.eps}: it is the gap around 0 "
                             "as a fraction of B")
        parity = parity or ("odd" if args.function == "sign" else None)
        if parity is None:
            raise ValueError("--eps needs --parity even|odd (the fit skips |x| < E*B)")
        gap = args.eps
    elif args.function == "sign":
        raise ValueError("sign jumps at 0: give --eps E in (0, 1) to fit on [-B,-E*B] U [E*B,B]")
    return minimax(args.function, tuple(args.interval), args.degree, relative=args.relative,
                   parity=parity, gap=gap, max_iter=args.max_iter), parity


def run(args) -> int:
    import numpy as np

    fit, parity = fit_from_args(args)
    record = {
        "function": args.function,
        "interval": [float(v) for v in fit.interval],
        "degree": fit.degree,
        "max_error": float(fit.max_error),
        "levelled_error": float(fit.levelled_error),
        "iterations": int(fit.iterations),
        "coefficients": [float(v) for v in fit.cheb],
        "basis": "chebyshev",
        "basis_note": "T_k((2x - a - b) / (b - a)) on the interval [a, b]",
        "power_coefficients": [float(v) for v in fit.power],
        "certificate": float(fit.certificate),
        "lower_bound": float(fit.lower_bound),
        "converged": bool(fit.converged),
        "reference": [float(v) for v in fit.reference],
        "relative": bool(args.relative),
        "parity": parity,
        "eps": args.eps,
        "depth": fit.depth,
        "nonscalar_mults": fit.nonscalar_mults,
    }
    if args.plot:
        plot(args, fit)
        record["plot"] = args.plot
    if args.json:
        print(json.dumps(record))
        return 0
    kind = "relative" if args.relative else "absolute"
    print(f"{args.function} on [{fit.interval[0]:g}, {fit.interval[1]:g}], degree {fit.degree}"
          f"{', ' + parity if parity else ''}{f', gap {args.eps:g}' if args.eps else ''}")
    print(f"  max {kind} error   {fit.max_error:.10e}")
    print(f"  levelled error     {fit.levelled_error:.10e}")
    print(f"  lower bound (dVP)  {fit.lower_bound:.10e}")
    print(f"  certificate        {fit.certificate:.12f}  (max / lower bound; 1 = optimal)")
    print(f"  iterations         {int(fit.iterations)}{'' if fit.converged else ' (NOT converged)'}")
    print(f"  depth {fit.depth}, non-scalar products {fit.nonscalar_mults} (Paterson-Stockmeyer)")
    print("  Chebyshev coefficients (on the interval mapped to [-1, 1]):")
    print("   ", np.array2string(fit.cheb, precision=17, separator=", ", max_line_width=96))
    if args.plot:
        print(f"  plot: {args.plot}")
    return 0


def plot(args, fit) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from jax.experimental import enable_x64

    from polyzoo.fitting import resolve_function as resolve

    _, fn = resolve(args.function)
    a, b = fit.interval
    x = np.linspace(a, b, 4001)
    if args.eps:
        x = x[np.abs(x) >= args.eps * b]
    with enable_x64():
        import jax.numpy as jnp

        fx = np.asarray(fn(jnp.asarray(x)))
        fr = np.asarray(fn(jnp.asarray(fit.reference)))
    cheb = np.polynomial.chebyshev.chebval
    px = cheb((2 * x - a - b) / (b - a), fit.cheb)
    pr = cheb((2 * fit.reference - a - b) / (b - a), fit.cheb)
    err, err_ref = fx - px, fr - pr
    if args.relative:
        err, err_ref = err / np.abs(fx), err_ref / np.abs(fr)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    top.plot(x, fx, label=args.function, lw=2)
    top.plot(x, px, "--", label=f"minimax degree {fit.degree}")
    top.legend()
    top.set_title(f"{args.function} on [{a:g}, {b:g}], degree {fit.degree}: "
                  f"max error {fit.max_error:.3e}")
    bottom.plot(x, err, lw=1)
    bottom.plot(fit.reference, err_ref, "o", ms=3)
    bottom.set_title("error; dots: alternation points (reference)", fontsize=9)
    for s in (-1, 1):
        bottom.axhline(s * fit.max_error, color="gray", lw=0.5, ls=":")
    bottom.set_ylabel("relative error" if args.relative else "error f - p")
    bottom.set_xlabel("x")
    fig.tight_layout()
    fig.savefig(args.plot, dpi=110)
    plt.close(fig)
