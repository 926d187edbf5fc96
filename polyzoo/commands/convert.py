"""`polyzoo convert CSV --name NAME`: the MiniLM recipe (exact fine-tune, then staged
distillation to polynomial form) on your own `text,label` CSV."""
from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "convert", help="fine-tune MiniLM on your CSV and distil it to polynomial form",
        description="Runs models/bert_sentiment_exact.py, then the stages of "
                    "models/bert_sentiment_poly_act.py and models/bert_sentiment_poly.py, "
                    "on a CSV of `text,label` rows (split 80/10/10, stratified) and stores "
                    "NAME-exact and NAME-poly in the zoo (set POLYZOO_CHECKPOINTS to use "
                    "another directory). Resumable like `polyzoo train`.")
    p.add_argument("csv", help="CSV file of text,label rows (header optional), or a "
                               "registered text dataset: sentiment, sms_spam, election_tweets")
    p.add_argument("--name", required=True, help="zoo name prefix for the two entries")
    p.add_argument("--steps-scale", type=float, default=1.0,
                   help="multiply every stage's step budget (e.g. 0.5 for a quicker run)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_run)


def _run(args) -> int:
    import json

    from polyzoo.zoo.convert import convert
    from polyzoo.zoo import card

    if args.steps_scale <= 0:
        raise ValueError(f"--steps-scale must be positive, got {args.steps_scale}")
    results = convert(args.csv, args.name, progress=not args.no_progress,
                      steps_scale=args.steps_scale)
    from polyzoo.train import baselines, data

    base = baselines.strongest(data.load(args.csv))
    done = {k: r for k, r in results.items() if "error" not in r}
    for entry in done.values():
        card.write(entry["path"])
    print(f"on the test split of {args.csv}:")
    rows = [(e["path"], e["metrics"]["accuracy"]) for e in done.values()]
    rows.append((f"baseline {base.name}", base.accuracy))
    for name, acc in rows:
        print(f"  {name:<32} {100 * acc:6.2f}%")
    behind = [n for n, acc in rows[:-1] if acc <= base.accuracy]
    if behind:
        print(f"  {' and '.join(behind)} did NOT beat the baseline ({base.description}): "
              "on this data the simple model is the better choice.")
    failed = [r["error"] for r in results.values() if "error" in r]
    for message in failed:
        print(f"  not published: {message}")
    print(json.dumps({**{k: r["metrics"]["accuracy"] for k, r in done.items()},
                      **{f"{k}_error": r["error"] for k, r in results.items() if "error" in r},
                      "baseline": base.name, "baseline_accuracy": base.accuracy}))
    return 1 if failed else 0
