"""Accuracy against polynomial degree and interval margin for a zoo model.

    python examples/degree_sweep.py vit-fashion-poly --degrees 2 4 6 8 12 16 --margins 0 0.1 0.3

Takes a zoo entry, measures every polynomial site's input range once (exact functions on
training data), then for each (degree, margin) refits every site with the minimax engine
(one batched fit per function: all sites of a function share one compiled kernel) and
evaluates the test split. The model is built once at the largest degree; a lower-degree fit
is zero-padded to that many Chebyshev coefficients (T_k with a zero weight adds nothing), so
the forward pass compiles once for the whole sweep. Writes a PNG and a JSON of the results.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np


def sweep(name: str, degrees: list[int], margins: list[float], calib: int = 2048,
          limit: int | None = None) -> dict:
    import jax
    import jax.numpy as jnp

    from polyzoo import models, zoo
    from polyzoo.fitting import minimax
    from polyzoo.models._sites import set_approx
    from polyzoo.train import data, evaluate
    from polyzoo.zoo import training

    entry = zoo.load(name)
    meta = entry.meta
    ds = data.load(meta["dataset"])
    test_in = data.model_inputs(ds, "test", meta.get("max_len"))
    labels = ds.test.labels
    if limit:
        test_in, labels = tuple(x[:limit] for x in test_in), labels[:limit]
    train_in = data.model_inputs(ds, "train", meta.get("max_len"))
    polys = models.model_polys(entry.model)

    # One model at the largest degree: its 'approx' arrays have max(degrees) + 1 coefficients.
    top = max(degrees)
    spec = entry.spec
    overrides = {}
    for site in entry.model.site_names():
        s = spec.site(site)
        if s.polys():
            widen = lambda p: None if p is None else dataclasses.replace(p, degree=top)  # noqa: E731
            overrides[site] = dataclasses.replace(s, poly=widen(s.poly), aux=widen(s.aux))
    big = entry.model.clone(spec=spec.with_overrides(overrides))
    template = big.init(jax.random.key(0), *(x[:2] for x in test_in), train=False)
    variables = {**entry.variables, "approx": jax.tree.map(np.asarray, template["approx"])}

    ranges = models.measure_ranges(entry.model, entry.variables,
                                   training.calibration_batches(train_in, calib))
    reference = evaluate.evaluate(entry.model.clone(reference=True), entry.variables, test_in,
                                  labels)["accuracy"]
    results = []
    for margin in margins:
        intervals = models.widen(ranges, entry.model, margin)
        for degree in degrees:
            v, fit_error = variables, {}
            by_fn: dict[str, list[str]] = {}
            for site in intervals:
                by_fn.setdefault(polys[site].fn, []).append(site)
            for fn, sites in by_fn.items():  # one batched fit for all sites of a function
                iv = np.asarray([intervals[s] for s in sites], np.float64)  # (G, 2)
                fit = minimax(fn, iv, degree, relative=fn in ("exp", "reciprocal", "rsqrt"),
                              warn=False)
                cheb = np.zeros((len(sites), top + 1), np.float32)
                cheb[:, :degree + 1] = np.asarray(fit.cheb, np.float32)
                for i, s in enumerate(sites):
                    v = set_approx(v, s, jnp.asarray(cheb[i]), jnp.asarray(iv[i], jnp.float32))
                    fit_error[s] = float(np.asarray(fit.max_error)[i])
            t = time.perf_counter()
            acc = evaluate.evaluate(big, v, test_in, labels,
                                    out_of_range=models.out_of_range)
            results.append({"degree": degree, "margin": margin, "accuracy": acc["accuracy"],
                            "out_of_range": acc["out_of_range_total"],
                            "max_fit_error": max(fit_error.values()),
                            "eval_s": round(time.perf_counter() - t, 2)})
            print(json.dumps(results[-1]), flush=True)
    return {"name": name, "reference_accuracy": reference,
            "stored_accuracy": meta["metrics"]["accuracy"], "stored_degree": {
                s: p.degree for s, p in polys.items()}, "n": len(labels), "results": results}


def plot(out: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for margin in sorted({r["margin"] for r in out["results"]}):
        rows = [r for r in out["results"] if r["margin"] == margin]
        ax.plot([r["degree"] for r in rows], [100 * r["accuracy"] for r in rows], "o-",
                label=f"margin {margin:g}")
    ax.axhline(100 * out["reference_accuracy"], color="k", ls="--",
               label="exact functions at the sites")
    ax.set_xlabel("polynomial degree (every site)")
    ax.set_ylabel(f"test accuracy (%), n={out['n']}")
    ax.set_title(f"{out['name']}: accuracy vs degree")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("name", help="zoo entry with polynomial sites, e.g. vit-fashion-poly")
    ap.add_argument("--degrees", type=int, nargs="+", default=[2, 4, 6, 8, 12, 16])
    ap.add_argument("--margins", type=float, nargs="+", default=[0.0, 0.1, 0.3])
    ap.add_argument("--limit", type=int, default=None, help="evaluate on the first N test examples")
    ap.add_argument("--out", default=None, help="PNG path (default docs/img/NAME-degree-sweep.png)")
    args = ap.parse_args()
    out = sweep(args.name, args.degrees, args.margins, limit=args.limit)
    png = Path(args.out or Path(__file__).resolve().parents[1] / "docs" / "img"
               / f"{args.name}-degree-sweep.png")
    png.parent.mkdir(parents=True, exist_ok=True)
    plot(out, png)
    png.with_suffix(".json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {png} and {png.with_suffix('.json')}")


if __name__ == "__main__":
    main()
