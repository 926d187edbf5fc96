"""The fitted-polynomial library: minimax fits on the intervals transformer layers use.

Stored as data in the top-level `fitting/library.json` (coefficients, interval, degree, error,
certificate, cost) with a table in `fitting/README.md`. Regenerate both with one command:

    python -m polyzoo.fitting.library --regenerate      (or: polyzoo fit-library)

Intervals: GELU/SiLU/ReLU/tanh/sigmoid on [-8, 8] (pre-activation ranges after range-aware
training, Zimerman et al. ICML 2024); exp on [-16, 0] (softmax logits after subtracting the
row max); reciprocal on [1, 128] (a softmax denominator: a sum of <= 128 terms in (0, 1] with
the max term 1), relative error; inverse square root on [0.05, 10] (LayerNorm variance),
relative error; sign on [-1, -2^-8] U [2^-8, 1] as Lee et al.'s composite (15, 15, 27).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from polyzoo._home import home
from polyzoo._names import unknown

LIBRARY_DIR = home() / "fitting"
LIBRARY_JSON = LIBRARY_DIR / "library.json"

# (function, interval, degrees, options): one entry per degree, named f"{function}-d{degree}".
TABLE = [
    ("gelu", (-8.0, 8.0), (4, 7, 15, 31, 63), {}),
    ("relu", (-8.0, 8.0), (7, 15, 31, 63), {}),
    ("silu", (-8.0, 8.0), (7, 15, 31), {}),
    ("tanh", (-8.0, 8.0), (7, 15, 31), {"parity": "odd"}),
    ("sigmoid", (-8.0, 8.0), (7, 15, 31), {}),
    ("exp", (-16.0, 0.0), (7, 11, 15), {}),
    ("reciprocal", (1.0, 128.0), (7, 15, 31), {"relative": True}),
    ("rsqrt", (0.05, 10.0), (7, 15, 31), {"relative": True}),
]
COMPOSITES = [("sign", 2.0**-8, (15, 15, 27))]  # named "sign-composite-d15.15.27"


@dataclass(frozen=True)
class Entry:
    """One stored fit. cheb: Chebyshev coefficients on the interval mapped to [-1, 1]; for a
    composite, stages holds one dict per odd stage (applied first to last)."""

    name: str
    function: str
    interval: tuple[float, float]
    degree: int
    parity: str | None
    relative: bool
    cheb: np.ndarray
    power: np.ndarray
    max_error: float
    certificate: float
    depth: int
    nonscalar_mults: int
    stages: tuple = ()
    eps: float | None = None

    def __call__(self, x):
        """Evaluate at x (dtype of x; pure, traceable)."""
        from polyzoo.fitting._chebyshev import chebeval

        if self.stages:
            for st in self.stages:
                x = chebeval(np.asarray(st["cheb"]), np.asarray(st["interval"]), x)
            return x
        return chebeval(self.cheb, np.asarray(self.interval), x)


def _fit_record(name, function, fit, parity, relative) -> dict:
    return dict(
        name=name,
        function=function,
        interval=[float(v) for v in fit.interval],
        degree=fit.degree,
        parity=parity,
        relative=relative,
        cheb=[float(v) for v in fit.cheb],
        power=[float(v) for v in fit.power],
        max_error=float(fit.max_error),
        certificate=float(fit.certificate),
        depth=fit.depth,
        nonscalar_mults=fit.nonscalar_mults,
    )


def generate() -> list[dict]:
    """Fit every entry of TABLE and COMPOSITES (a few seconds per degree, mostly compilation)."""
    from polyzoo.fitting._composite import composite_sign
    from polyzoo.fitting._minimax import minimax

    records = []
    for function, interval, degrees, opts in TABLE:
        for degree in degrees:
            fit = minimax(function, interval, degree, **opts)
            records.append(
                _fit_record(f"{function}-d{degree}", function, fit, opts.get("parity"),
                            opts.get("relative", False))
            )
    for function, eps, degrees in COMPOSITES:
        comp = composite_sign(eps, degrees)
        name = f"{function}-composite-d{'.'.join(map(str, degrees))}"
        stages = [_fit_record(f"{name}/{i}", function, st, "odd", False)
                  for i, st in enumerate(comp.stages)]
        records.append(dict(
            name=name, function=function, interval=[-1.0, 1.0], degree=int(np.prod(degrees)),
            parity="odd", relative=False, cheb=[], power=[], max_error=comp.max_error,
            certificate=float(max(s["certificate"] for s in stages)), depth=comp.depth,
            nonscalar_mults=comp.nonscalar_mults, stages=stages, eps=eps,
        ))
    return records


def _readme(records) -> str:
    lines = [
        "# Fitted polynomial library",
        "",
        "Minimax (Remez) fits from `polyzoo.fitting`, stored in `library.json`; regenerate with",
        "`python -m polyzoo.fitting.library --regenerate`. Load one with",
        "`polyzoo.fitting.library.get(name)`. Error is absolute unless marked relative;",
        "certificate = max error / de la Vallee Poussin lower bound (1 = optimal; above ~1e-9 only",
        "where the error is near float64 rounding). Depth = ceil(log2 n); products =",
        "Paterson-Stockmeyer non-scalar multiplications. See `polyzoo/fitting/library.py` for why",
        "these intervals.",
        "",
        "| name | function | interval | degree | error | certificate - 1 | depth | products |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        a, b = r["interval"]
        iv = f"[{a:g}, {b:g}]" if not r["stages"] else f"±[{r['eps']:g}, 1]"
        kind = " (rel)" if r["relative"] else ""
        deg = r["degree"] if not r["stages"] else "∘".join(str(s["degree"]) for s in r["stages"])
        lines.append(
            f"| {r['name']} | {r['function']}{kind} | {iv} | {deg} | {r['max_error']:.3e} | "
            f"{r['certificate'] - 1:.1e} | {r['depth']} | {r['nonscalar_mults']} |"
        )
    return "\n".join(lines) + "\n"


def regenerate(directory: Path = LIBRARY_DIR) -> list[dict]:
    records = generate()
    for r in records:
        r.setdefault("stages", [])
        r.setdefault("eps", None)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "library.json").write_text(json.dumps({"entries": records}, indent=1) + "\n")
    (directory / "README.md").write_text(_readme(records))
    return records


def _to_entry(r: dict) -> Entry:
    return Entry(
        name=r["name"], function=r["function"], interval=tuple(r["interval"]),
        degree=r["degree"], parity=r["parity"], relative=r["relative"],
        cheb=np.asarray(r["cheb"]), power=np.asarray(r["power"]), max_error=r["max_error"],
        certificate=r["certificate"], depth=r["depth"], nonscalar_mults=r["nonscalar_mults"],
        stages=tuple(r.get("stages") or ()), eps=r.get("eps"),
    )


def load(path: Path = LIBRARY_JSON) -> dict[str, Entry]:
    if not Path(path).exists():
        raise FileNotFoundError(
            f"{path} is missing: run `python -m polyzoo.fitting.library --regenerate`"
        )
    records = json.loads(Path(path).read_text())["entries"]
    return {r["name"]: _to_entry(r) for r in records}


def names() -> list[str]:
    return list(load())


def get(name: str) -> Entry:
    """The stored entry `name` (e.g. 'gelu-d15'); an unknown name lists the valid ones."""
    entries = load()
    if name not in entries:
        raise KeyError(unknown("fitted polynomial", name, entries))
    return entries[name]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regenerate", action="store_true", help="refit and rewrite fitting/")
    args = parser.parse_args(argv)
    if args.regenerate:
        records = regenerate()
        print(f"wrote {len(records)} entries to {LIBRARY_JSON} and {LIBRARY_DIR / 'README.md'}")
    else:
        print(_readme(list(json.loads(LIBRARY_JSON.read_text())["entries"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
