"""Training throughput of a polynomial recipe against its exact twin, measured in one process.

    python examples/train_throughput.py vit_fashion_poly vit_fashion_exact --steps 20 --repeats 5

Builds both models exactly as their recipes train them (the last stage that trains, or
`--stage N`: its spec, `reference` flag, batch size and range-loss weight; `--poly-forward`
evaluates the polynomials even in a range-aware stage), compiles one training step each, then
times `--steps` steps per repeat, alternating poly and exact so both see the same machine
load. Prints examples/s (median of the repeats) and the ratio poly / exact.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time


def setup(recipe_name: str, stage_index: int | None = None, poly_forward: bool = False):
    import jax
    import numpy as np

    from polyzoo import models
    from polyzoo.train import data, loop
    from polyzoo.zoo import recipe as recipe_lib
    from polyzoo.zoo import training

    r = recipe_lib.load_recipe(recipe_name)
    trained = [i for i, st in enumerate(r.stages) if st.steps > 0]
    stage = r.stages[trained[-1] if stage_index is None else stage_index]
    ds = data.load(r.dataset)
    train_in = training.inputs_of(r, ds, "train")
    model = training.build(r, stage.spec, ds.num_classes).clone(
        reference=stage.reference and not poly_forward)
    variables = model.init(jax.random.key(0), *(x[:2] for x in train_in), train=False)
    tx = loop.optimizer(stage.lr, 1000)
    objective = loop.Objective(range_weight=stage.range_weight, range_loss=models.range_loss)
    step = jax.jit(loop.make_step(model, tx, objective), donate_argnums=0)
    state = loop.init_state(variables, tx)
    idx = np.arange(r.batch_size)
    batch = {"inputs": tuple(jax.numpy.asarray(x[idx]) for x in train_in),
             "labels": jax.numpy.asarray(ds.train.labels[idx])}
    state, _ = step(state, batch, {})  # compile
    jax.block_until_ready(state)
    label = r.name + (f" ({stage.name}, {'exact functions' if model.reference else 'polynomials'})"
                      if models.model_polys(model) else "")
    return {"name": label, "step": step, "state": state, "batch": batch, "bs": r.batch_size}


def time_steps(s, steps: int) -> float:
    import jax

    t = time.perf_counter()
    state = s["state"]
    for _ in range(steps):
        state, _ = s["step"](state, s["batch"], {})
    jax.block_until_ready(state)
    s["state"] = state
    return steps * s["bs"] / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("poly")
    ap.add_argument("exact")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--stage", type=int, default=None, help="stage index of the poly recipe")
    ap.add_argument("--poly-forward", action="store_true",
                    help="polynomials in the forward pass even in a range-aware stage")
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    runs = [setup(args.poly, args.stage, args.poly_forward), setup(args.exact)]
    rates = {r["name"]: [] for r in runs}
    for _ in range(args.repeats):
        for r in runs:
            rates[r["name"]].append(time_steps(r, args.steps))
    med = {k: statistics.median(v) for k, v in rates.items()}
    p, e = runs[0]["name"], runs[1]["name"]
    print(json.dumps({"examples_per_s": med, "all": rates, "ratio_poly_over_exact":
                      med[p] / med[e], "steps": args.steps, "repeats": args.repeats,
                      "load_average": [load_before, os.getloadavg()[0]]}, indent=2))


if __name__ == "__main__":
    main()
