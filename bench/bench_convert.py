"""`polyzoo convert` on text datasets it was never tuned for, beside the bag of words.

For each dataset: the exact MiniLM fine-tune and its polynomial student (the recipes of
`polyzoo convert`: models/bert_sentiment_exact.py, then the stages of
models/bert_sentiment_poly_act.py and models/bert_sentiment_poly.py), trained into a zoo of
their own (--zoo, not the repository's), then the test accuracy of both entries beside the
TF-IDF + logistic regression baseline of the same split. A stage that fails (a diverged or
collapsed stage, a calibration that cannot make the polynomial forward finite) is recorded
with its message, and nothing of it is published. Resumable: each recipe resumes from its
run directories (data/runs/NAME-*), so a rerun after an interruption continues.
Hours here: each dataset is about an hour of training on 2 cores.

    .venv/bin/python bench/bench_convert.py [--datasets sms_spam election_tweets]
        [--zoo data/convert-zoo]
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from _harness import RESULTS, provenance, write

NAME = "convert"
DATASETS = ("sms_spam", "election_tweets")
REPO = Path(__file__).resolve().parent.parent


def _entry(result: dict) -> dict:
    """What the record keeps of a published entry (a stage resumed from its last checkpoint
    reports only the seconds of this run: `resumed_from` says so)."""
    return {"accuracy": result["metrics"]["accuracy"], "n": result["metrics"]["n"],
            "stages": [{k: s.get(k) for k in ("stage", "steps", "seconds", "resumed_from",
                                              "val_accuracy", "last_loss", "skipped_steps")}
                       for s in result.get("stages", [])]}


def convert_one(dataset: str, progress: bool) -> dict:
    from polyzoo.train import baselines, data
    from polyzoo.zoo import convert

    name = dataset.replace("_", "-")
    base = baselines.strongest(data.load(dataset))
    # each row names its own commit and date: a run of some --datasets keeps the other rows
    row = {"dataset": dataset, **provenance(), "entries": [f"{name}-exact", f"{name}-poly"],
           "baseline": base.name, "baseline_accuracy": base.accuracy,
           "baseline_description": base.description}
    for key, result in convert.convert(dataset, name, progress=progress).items():
        row[key] = ({"error": result["error"]} if "error" in result else _entry(result))
        row[key]["seconds"] = result["seconds"]
        if "error" in result:
            print(result["error"], flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--zoo", default=str(REPO / "data" / "convert-zoo"),
                        help="zoo directory the entries are published to")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    os.environ["POLYZOO_CHECKPOINTS"] = str(Path(args.zoo).resolve())
    path = RESULTS / f"{NAME}.json"
    results = json.loads(path.read_text())["results"] if path.exists() else {}
    for dataset in args.datasets:
        results[dataset] = row = convert_one(dataset, progress=not args.no_progress)
        cells = [f"{k} {100 * row[k]['accuracy']:.2f}%" if "accuracy" in row.get(k, {})
                 else f"{k} failed" for k in ("exact", "poly")]
        print(f"{dataset}: {', '.join(cells)}, baseline {row['baseline']} "
              f"{100 * row['baseline_accuracy']:.2f}%", flush=True)
        write(NAME, {"zoo": args.zoo, "results": results})


if __name__ == "__main__":
    main()
