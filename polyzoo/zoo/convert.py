"""The language recipe on a user's own CSV: fine-tune exact MiniLM, then distil it to
polynomial form (the stages of models/bert_sentiment_poly_act.py then of
models/bert_sentiment_poly.py, as one recipe), both stored in the zoo.

    polyzoo convert reviews.csv --name reviews      ->  zoo entries reviews-exact, reviews-poly
    polyzoo convert sms_spam --name sms             (a registered text dataset, by name)
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from polyzoo.zoo import recipe as recipe_lib
from polyzoo.zoo import training

# The registered text datasets `convert` takes by name instead of a CSV (polyzoo.train.data).
TEXT_DATASETS = ("sentiment", "sms_spam", "election_tweets")


def recipes_for(csv: str, name: str, *, exact: str = "bert_sentiment_exact",
                poly: tuple[str, ...] = ("bert_sentiment_poly_act", "bert_sentiment_poly"),
                steps_scale: float = 1.0):
    """(exact recipe, polynomial recipe) retargeted to `csv`, named NAME-exact / NAME-poly.
    The polynomial recipe runs the stages of every recipe in `poly` in turn (the zoo trains
    them as separate entries, each starting from the one before), with the last one's
    settings."""
    from polyzoo.train import data as data_lib

    if csv in data_lib.LOADERS and csv not in TEXT_DATASETS:
        raise ValueError(f"{csv} is an image dataset; convert fine-tunes a language model: "
                         f"use one of {', '.join(TEXT_DATASETS)} or a text,label CSV")
    if csv not in TEXT_DATASETS and not Path(csv).exists():
        raise FileNotFoundError(f"{csv}: no such CSV file (expected rows `text,label`), nor "
                                f"one of the text datasets {', '.join(TEXT_DATASETS)}")
    e, parts = recipe_lib.load_recipe(exact), [recipe_lib.load_recipe(r) for r in poly]
    p = dataclasses.replace(parts[-1], stages=sum((r.stages for r in parts), ()))
    scale = lambda r: tuple(dataclasses.replace(s, steps=max(2, int(s.steps * steps_scale)),  # noqa: E731
                                                warmup=int(s.warmup * steps_scale))
                            for s in r.stages)
    command = f"polyzoo convert {csv} --name {name}"
    e = dataclasses.replace(e, name=f"{name}-exact", dataset=str(csv), task="text classification",
                            stages=scale(e), command=command)
    p = dataclasses.replace(p, name=f"{name}-poly", dataset=str(csv), task="text classification",
                            init=f"zoo:{name}-exact", teacher=f"zoo:{name}-exact",
                            twin=f"{name}-exact", stages=scale(p), command=command)
    return e, p


def convert(csv: str, name: str, *, progress: bool = True, steps_scale: float = 1.0, **kw
            ) -> dict[str, dict]:
    """Run both recipes of `recipes_for(csv, name)`: the exact fine-tune, then its polynomial
    student. Returns {'exact': result, 'poly': result}, each the `training.run` result (the
    manifest entry when published) with the seconds it took. A stage that fails (a diverged or
    collapsed stage, a calibration that cannot make the polynomial forward finite) publishes
    nothing: its key holds {'error': message, 'seconds'} and the recipes after it do not run,
    so that what did train is still reported."""
    out = {}
    for key, recipe in zip(("exact", "poly"), recipes_for(csv, name, steps_scale=steps_scale,
                                                          **kw)):
        t0 = time.perf_counter()
        try:
            out[key] = training.run(recipe, progress=progress)
        except (ValueError, ArithmeticError) as err:  # Diverged, StageCollapsed, calibration
            out[key] = {"error": f"{recipe.name}: {type(err).__name__}: {err}"}
        out[key]["seconds"] = round(time.perf_counter() - t0, 1)
        if "error" in out[key]:
            break
    return out
