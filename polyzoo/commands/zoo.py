"""`polyzoo zoo list|show|eval|card`: the pretrained polynomial zoo."""
from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("zoo", help="list, inspect and evaluate zoo checkpoints")
    sub = p.add_subparsers(dest="zoo_command", required=True, metavar="ACTION")
    ls = sub.add_parser("list", help="the named entries and their metrics")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)
    show = sub.add_parser("show", help="one entry's manifest record")
    show.add_argument("name")
    show.set_defaults(func=_show)
    ev = sub.add_parser("eval", help="recompute an entry's metrics from its checkpoint")
    ev.add_argument("name")
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(func=_eval)
    card = sub.add_parser("card", help="write models/cards/NAME.md from the manifest")
    card.add_argument("name")
    card.set_defaults(func=_card)


def _list(args) -> int:
    import json

    from polyzoo.zoo.registry import read_manifest

    entries = read_manifest()["entries"]
    rows = [{"name": n, "model": e["model"]["name"], "task": e.get("task"),
             "dataset": e.get("dataset"), "accuracy": e["metrics"]["accuracy"],
             "twin": e.get("twin"),
             "baseline": (e.get("baseline") or {}).get("name"),
             "baseline_accuracy": (e.get("baseline") or {}).get("accuracy")}
            for n, e in sorted(entries.items())]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("the zoo is empty (train an entry with `polyzoo train RECIPE`)")
        return 0
    width = {k: max(len(str(r[k])) for r in rows) for k in ("name", "model", "dataset")}
    for r in rows:
        twin = f"  (exact twin: {r['twin']})" if r["twin"] else ""
        base = ""
        if r["baseline"]:
            gap = 100 * (r["accuracy"] - r["baseline_accuracy"])
            base = (f"  baseline {r['baseline']} {100 * r['baseline_accuracy']:.2f}% "
                    f"({gap:+.2f}{'' if gap > 0 else ', behind'})")
        print(f"{r['name']:<{width['name']}}  {r['model']:<{width['model']}}  "
              f"{r['dataset']:<{width['dataset']}}  acc {100 * r['accuracy']:.2f}%{base}{twin}")
    return 0


def _show(args) -> int:
    import json

    from polyzoo.zoo.registry import entry_meta

    meta = dict(entry_meta(args.name))
    meta["files"] = f"{len(meta['files'])} files (sha256 in checkpoints/manifest.json)"
    print(json.dumps(meta, indent=2))
    return 0


def _eval(args) -> int:
    import json

    from polyzoo.zoo.evaluation import summary

    out = summary(args.name)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        twin = (f"; exact twin {out['twin']}: {100 * out['twin_accuracy']:.2f}%"
                if out["twin_accuracy"] is not None else "")
        gap = 100 * (out["accuracy"] - out["baseline_accuracy"])
        verdict = "beats" if gap > 0 else "DOES NOT beat"
        print(f"{out['name']} on {out['dataset']} {out['split']}: accuracy "
              f"{100 * out['accuracy']:.2f}%{twin}; out-of-range inputs {out['out_of_range']}; "
              f"{'reproduces' if out['reproduced'] else 'DOES NOT reproduce'} the manifest "
              f"({100 * out['manifest_accuracy']:.2f}%)\n"
              f"  {verdict} the baseline {out['baseline']} ({out['baseline_description']}): "
              f"{100 * out['baseline_accuracy']:.2f}%, {gap:+.2f} points")
    return 0 if out["reproduced"] else 1


def _card(args) -> int:
    from polyzoo.zoo.card import write

    print(write(args.name))
    return 0
