"""Every attention replacement of the menu on one model, one recipe and one budget.

    .venv/bin/python bench/bench_attention_menu.py [--zoo]               # the zoo's entries
    .venv/bin/python bench/bench_attention_menu.py --steps-scale 0.125   # 2,000 steps each
    .venv/bin/python bench/bench_attention_menu.py --steps-scale 0.125 --resume   # skip rows
    .venv/bin/python bench/bench_attention_menu.py --steps-scale 0.125 --resume --rerun polyexp

The ViT Fashion-MNIST recipe (models/vit_fashion_poly.py: range-aware training, then every site
calibrated and refitted) with only its softmax site changed to each choice of
`polyzoo.nn.ATTENTION_MENU` (`polyzoo.zoo.recipe.with_attention`), and its exact twin
(models/vit_fashion_exact.py), same budget and seed.
- `--zoo`: the rows are the published zoo entries at the recipe's full budget
  (`vit-fashion-poly` for pointwise GELU, `vit-fashion-poly-NAME` for the others, each trained
  by its own recipe, `polyzoo train vit_fashion_poly_NAME`); their metrics are the manifest's
  (what `polyzoo zoo eval` recomputes), and an entry not yet trained is listed as such. Writes
  bench/results/attention_menu_zoo.json.
- `--steps-scale S`: every recipe trained here at a share S of its steps, nothing published.
  Writes bench/results/attention_menu.json, one row at a time (a stopped run resumes).
Each row: test accuracy, the drop against the exact twin, the share of polynomial-site inputs
outside their intervals on the test split, and the encrypted cost of one layer's attention
counted by the cost model (`Site.cost`, `attention_pbs`; not measured on a compiled circuit):
CKKS depth of the weights and ciphertext products per token, TFHE table lookups per token.
`--zoo` also records the split's simple baseline as published with the exact twin;
render_results.py plots the rows (docs/img/attention-menu.png).
"""
from __future__ import annotations

import argparse
import json
import time

from _harness import RESULTS, write

from polyzoo import models
from polyzoo.nn import ATTENTION_MENU as MENU, Site
from polyzoo.zoo import recipe as recipe_lib
from polyzoo.zoo import training
from polyzoo.zoo import registry


def menu_recipe(poly, name: str):
    """The zoo recipe of menu row `name`: vit_fashion_poly itself for pointwise GELU (its own
    softmax site), `vit-fashion-poly-NAME` for the others."""
    if name == "pointwise-gelu":
        return poly
    return recipe_lib.with_attention(poly, MENU[name], name.replace("_", "-"))


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
    out = training.run(recipe, publish=False, steps_scale=steps_scale, progress=False)
    m = out["metrics"]
    return {"test_accuracy": m["accuracy"], "n": m["n"],
            "out_of_range_share": (m["out_of_range_total"] / m["site_values"]
                                   if m.get("site_values") else None),
            "train_seconds": round(time.perf_counter() - t0, 1),
            "val_accuracy": out["stages"][-1]["val_accuracy"]}


def zoo_rows(poly, exact, config) -> dict:
    """The record of --zoo: each menu row from its published entry (manifest metrics)."""
    manifest = registry.read_manifest()["entries"]
    if exact.name not in manifest:
        raise SystemExit(f"the exact twin {exact.name!r} is not in the zoo: run "
                         "`polyzoo train vit_fashion_exact` first")
    twin = {"recipe": exact.name, **entry_metrics(manifest[exact.name])}
    rows = []
    for name in MENU:
        recipe = menu_recipe(poly, name)
        final = recipe.stages[-1].spec.softmax
        row = {"attention": name, "entry": recipe.name}
        meta = manifest.get(recipe.name)
        if meta is None:
            row.update(test_accuracy=None, not_trained=f"polyzoo train "
                       f"{recipe.name.replace('-', '_')}")
        elif meta["spec"]["softmax"] != final.to_dict():
            raise SystemExit(f"zoo entry {recipe.name!r} was trained with another attention "
                             f"site ({meta['spec']['softmax']}) than the menu's "
                             f"({final.to_dict()}): retrain it")
        else:
            row.update(entry_metrics(meta))
            row["drop_vs_exact"] = round(twin["test_accuracy"] - row["test_accuracy"], 4)
        rows.append({**row, "site": final.to_dict(), **attention_cost(final, config)})
        print(json.dumps(rows[-1]), flush=True)
    base = manifest[exact.name].get("baseline")  # the split's simple model, as published
    return {"exact_twin": twin, "rows": rows,
            "baseline": base and {"name": base["name"], "accuracy": base["accuracy"]}}


def entry_metrics(meta: dict) -> dict:
    m = meta["metrics"]
    return {"test_accuracy": m["accuracy"], "n": m["n"],
            "out_of_range_share": (m["out_of_range_total"] / m["site_values"]
                                   if m.get("site_values") else None)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo", action="store_true",
                    help="the published zoo entries (full budget) instead of training here (the "
                         "default)")
    ap.add_argument("--steps-scale", type=float, default=None,
                    help="train each recipe here at this share of its steps, in (0, 1)")
    ap.add_argument("--choices", nargs="*", default=list(MENU), choices=list(MENU))
    ap.add_argument("--resume", action="store_true",
                    help="keep the rows of bench/results/attention_menu.json measured at this "
                         "--steps-scale and measure only the others")
    ap.add_argument("--rerun", nargs="*", default=[], choices=list(MENU),
                    help="with --resume, measure these again even if recorded (e.g. a failed "
                         "row after its choice changed)")
    args = ap.parse_args(argv)
    if args.zoo and args.steps_scale is not None:
        ap.error("give either --zoo (the zoo's entries, full budget) or --steps-scale S "
                 "(train here at a share of the budget; the full budget is the zoo's recipes)")
    args.zoo = args.steps_scale is None  # the default: the zoo's entries (`make bench`)
    if args.steps_scale is not None and not 0 < args.steps_scale < 1:
        ap.error(f"--steps-scale must be in (0, 1), got {args.steps_scale}: the full budget "
                 "is the zoo's entries (--zoo)")
    poly = recipe_lib.load_recipe("vit_fashion_poly")
    exact = recipe_lib.load_recipe("vit_fashion_exact")
    config = models.parse(poly.model, **poly.overrides)
    common = {"model": poly.model, "dataset": poly.dataset, "recipe": poly.recipe_file,
              "tokens": config.num_tokens, "menu": list(MENU)}
    if args.zoo:
        write("attention_menu_zoo", {**common, "steps_scale": 1.0,
                                     "steps": [s.steps for s in poly.stages],
                                     **zoo_rows(poly, exact, config)})
        return 0
    path = RESULTS / "attention_menu.json"
    old = json.loads(path.read_text()) if args.resume and path.exists() else {}
    if old.get("steps_scale") != args.steps_scale:
        old = {}
    rows = {r["attention"]: r for r in old.get("rows", []) if r["attention"] not in args.rerun}
    twin = old.get("exact_twin")
    if twin is None:
        print("exact twin ...", flush=True)
        twin = {"recipe": exact.name, **run_one(exact, args.steps_scale)}
    recipes = {name: menu_recipe(poly, name) for name in MENU}
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
            **common, "steps_scale": args.steps_scale,
            "steps": [max(2, int(s.steps * args.steps_scale)) if s.steps else 0
                      for s in poly.stages],
            "exact_twin": twin, "rows": [rows[n] for n in MENU if n in rows]})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
