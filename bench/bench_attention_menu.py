"""Every attention replacement of the menu on one model, one recipe and one budget.

    .venv/bin/python bench/bench_attention_menu.py --steps-scale 0.125   # 1,000 steps each
    .venv/bin/python bench/bench_attention_menu.py --resume               # skip rows measured
    .venv/bin/python bench/bench_attention_menu.py --resume --rerun polyexp   # measure it again

The ViT Fashion-MNIST recipe (models/vit_fashion_poly.py: range-aware training, then every site
calibrated and refitted) is run once per attention choice with only its softmax site changed,
and its exact twin (models/vit_fashion_exact.py) at the same budget and seed, in the same run.
Each row: test accuracy, the drop against the exact twin, the share of polynomial-site inputs
outside their intervals on the test split, and the encrypted cost of one layer's attention
counted by the cost model (`Site.cost`, `attention_pbs`; not measured on a compiled circuit):
CKKS depth of the weights and ciphertext products per token, TFHE table lookups per token.
Writes bench/results/attention_menu.json, one row at a time (a stopped run resumes).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time

from _harness import RESULTS, write

from polyzoo import models
from polyzoo.nn import Poly, Site
from polyzoo.zoo import recipe as recipe_lib

GELU = Poly("gelu", 8, (-8.0, 8.0))
# 1 / mean of the unnormalised weights: calibrated, then refined by Newton steps (Panda, CSCML
# 2022). The means span four decades on this model (2Quad: 0.002 to 7.7 in layers 1-3), where
# a degree-8 or -24 minimax guess alone overflowed the calibrated forward; with three steps it
# matched the exact forward on validation (both measured, on a 640-step run).
RECIP = Poly("reciprocal", 8, (0.05, 4.0), newton=3)
# The menu: every attention choice the library exports or approximates, with the parameters
# its paper uses (2Quad c = 5, power-softmax p = 2, inhibitor γ = the head width).
MENU = {
    "pointwise-gelu": Site("pointwise", fn="gelu", poly=GELU),
    "pointwise-relu": Site("pointwise", fn="relu", poly=Poly("relu", 8, (-8.0, 8.0))),
    "2quad": Site("2quad", param=5.0, aux=RECIP),
    "power": Site("power", param=2.0, aux=RECIP),
    # exp fitted with absolute error: its scores span [-22.6, 10.8] on this model, where no
    # degree-24 polynomial resolves a relative error in float64 (the row failed so, measured)
    "polyexp": Site("polyexp", poly=Poly("exp", 8, (-8.0, 8.0), relative=False), aux=RECIP),
    "inhibitor": Site("inhibitor", param=16.0),
    "inhibitor_signed": Site("inhibitor_signed", param=16.0),
}


def with_attention(recipe, site: Site, name: str):
    """`recipe` with every stage's softmax site replaced by `site`, its polynomials (`poly`
    and `aux`) at the degree of the stage's own (24 in the final stage's refit)."""
    def swap(stage):
        spec = stage.spec
        degree = spec.act.poly.degree if spec.act.poly is not None else 8
        s = site
        for field in ("poly", "aux"):
            p = getattr(s, field)
            if p is not None:
                s = dataclasses.replace(s, **{field: dataclasses.replace(p, degree=degree)})
        return dataclasses.replace(stage, spec=dataclasses.replace(spec, softmax=s,
                                                                   name=f"{spec.name}-{name}"))
    return dataclasses.replace(recipe, name=f"{recipe.name}-{name}",
                               stages=tuple(swap(s) for s in recipe.stages), twin=None)


def attention_cost(site: Site, config) -> dict:
    """One layer's attention, per token: the weights' CKKS depth, ciphertext products (the
    two products q·kᵀ and w·v of dot-product attention included) and TFHE lookups."""
    tokens, heads = config.num_tokens, config.heads
    d = config.hidden // heads
    behaviour = site.behaviour
    pbs = behaviour.attention_pbs(site, tokens, tokens, d)
    weights = site.cost(tokens)
    dot = site.choice not in ("inhibitor", "inhibitor_signed")
    products = (None if weights.ckks_products is None else
                heads * tokens * (weights.ckks_products + (2 * d if dot else 0)))
    return {"ckks_depth_of_weights": weights.ckks_depth,
            "ckks_products_per_token": products,
            "tfhe_pbs_per_token": None if pbs is None else heads * pbs / tokens,
            "exportable": site.exportable}


def run_one(recipe, steps_scale: float) -> dict:
    t0 = time.perf_counter()
    out = recipe_lib.run(recipe, publish=False, steps_scale=steps_scale, progress=False)
    m = out["metrics"]
    return {"test_accuracy": m["accuracy"], "n": m["n"],
            "out_of_range_share": (m["out_of_range_total"] / m["site_values"]
                                   if m.get("site_values") else None),
            "train_seconds": round(time.perf_counter() - t0, 1),
            "val_accuracy": out["stages"][-1]["val_accuracy"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps-scale", type=float, default=1.0,
                    help="each stage's share of the recipe's steps (1: the zoo's budget)")
    ap.add_argument("--choices", nargs="*", default=list(MENU), choices=list(MENU))
    ap.add_argument("--resume", action="store_true",
                    help="keep the rows of bench/results/attention_menu.json measured at this "
                         "--steps-scale and measure only the others")
    ap.add_argument("--rerun", nargs="*", default=[], choices=list(MENU),
                    help="with --resume, measure these again even if recorded (e.g. a failed "
                         "row after its choice changed)")
    args = ap.parse_args(argv)
    if not 0 < args.steps_scale <= 1:
        ap.error(f"--steps-scale must be in (0, 1], got {args.steps_scale}")
    poly = recipe_lib.load_recipe("vit_fashion_poly")
    exact = recipe_lib.load_recipe("vit_fashion_exact")
    config = models.parse(poly.model, **poly.overrides)
    path = RESULTS / "attention_menu.json"
    old = json.loads(path.read_text()) if args.resume and path.exists() else {}
    if old.get("steps_scale") != args.steps_scale:
        old = {}
    rows = {r["attention"]: r for r in old.get("rows", []) if r["attention"] not in args.rerun}
    twin = old.get("exact_twin")
    if twin is None:
        print("exact twin ...", flush=True)
        twin = {"recipe": exact.name, **run_one(exact, args.steps_scale)}
    recipes = {name: with_attention(poly, MENU[name], name) for name in MENU}
    for name in args.choices:
        if name in rows:
            continue
        print(f"{name} ...", flush=True)
        try:
            r = run_one(recipes[name], args.steps_scale)
        except ValueError as e:  # e.g. a calibrated forward gone non-finite: a result too
            print(f"{name} failed: {e}", flush=True)
            r = {"test_accuracy": None, "failed": str(e)}
        rows[name] = {"attention": name, **r,
                      "drop_vs_exact": (None if r["test_accuracy"] is None else
                                        round(twin["test_accuracy"] - r["test_accuracy"], 4))}
        for n in rows:  # the stored model's site (final degree) and its cost: recomputed
            final = recipes[n].stages[-1].spec.softmax
            rows[n].update(site=final.to_dict(), **attention_cost(final, config))
        print(json.dumps(rows[name]), flush=True)
        write("attention_menu", {
            "model": poly.model, "dataset": poly.dataset, "recipe": poly.recipe_file,
            "steps_scale": args.steps_scale,
            "steps": [max(2, int(s.steps * args.steps_scale)) if s.steps else 0
                      for s in poly.stages],
            "tokens": config.num_tokens, "exact_twin": twin, "menu": list(MENU),
            "rows": [rows[n] for n in MENU if n in rows]})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
