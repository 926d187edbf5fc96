"""Every zoo entry beside the simple model a user would pick instead, on the same split.

    .venv/bin/python bench/bench_baselines.py                 # the zoo's and convert's datasets
    .venv/bin/python bench/bench_baselines.py reviews.csv     # and a user's CSV / NPZ
    .venv/bin/python bench/bench_baselines.py --cached        # reuse cached baselines
    .venv/bin/python bench/bench_baselines.py --skip fashion_mnist   # leave a dataset out
    .venv/bin/python bench/bench_baselines.py --update-zoo    # and store them in the zoo

Baselines (polyzoo.train.baselines): TF-IDF + logistic regression for text, logistic
regression and a 256-unit MLP for images, each selected on the validation split only. They are
refitted in this run unless --cached, and the refit replaces the cache
(data/cache/baselines/) that `polyzoo train`, `convert` and `zoo eval` read. The ratio printed
is entry accuracy / baseline accuracy (above 1: the transformer is ahead). --update-zoo also
stores the strongest refitted baseline in every manifest entry of that dataset (unless its
stored baseline was fitted on another split: sha256) and rewrites its model card, so the
cards, `zoo eval` and the results pages report one baseline per split. Record:
bench/results/baselines.json.
"""
from __future__ import annotations

import argparse

import _harness
from bench_convert import DATASETS as CONVERT_DATASETS
from polyzoo.train import baselines, data
from polyzoo.zoo import card
from polyzoo.zoo.registry import read_manifest, write_manifest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("datasets", nargs="*", help="extra .csv / .npz files")
    ap.add_argument("--cached", action="store_true", help="reuse cached baselines")
    ap.add_argument("--skip", nargs="*", default=(), metavar="NAME",
                    help="datasets to leave out of this run (their rows stay unmeasured)")
    ap.add_argument("--update-zoo", action="store_true",
                    help="store the refitted baselines in the manifest entries of the same split "
                         "and rewrite their cards")
    args = ap.parse_args()
    if args.update_zoo and args.cached:
        ap.error("--update-zoo stores a refit: drop --cached")
    entries = read_manifest()["entries"]
    zoo = sorted({e["dataset"] for e in entries.values()})
    names = [n for n in (*zoo, *CONVERT_DATASETS) if n not in args.skip]
    names += list(args.datasets)
    rows, datasets, strongest = [], {}, {}
    for name in names:
        ds = data.load(name)
        found = baselines.baselines(ds, refit=not args.cached)
        best = baselines.pick(found)
        strongest[name] = baselines.record(ds, found)
        datasets[name] = {"split_sha256": strongest[name]["split_sha256"],
                          "test_examples": len(ds.test.labels),
                          "baselines": [b.to_dict() for b in found], "strongest": best.name}
        for b in found:
            print(f"{name:<14} baseline {b.name:<14} {100 * b.accuracy:6.2f}%  "
                  f"({b.description}; {b.seconds:.1f} s)")
        for entry, e in sorted(entries.items()):
            if e["dataset"] != name:
                continue
            acc = e["metrics"]["accuracy"]
            ratio = acc / best.accuracy
            rows.append({"entry": entry, "dataset": name, "accuracy": acc,
                         "baseline": best.name, "baseline_accuracy": best.accuracy,
                         "points": round(100 * (acc - best.accuracy), 2), "ratio": round(ratio, 4)})
            print(f"{name:<14} {entry:<26} {100 * acc:6.2f}%  vs {best.name} "
                  f"{100 * best.accuracy:.2f}%: {rows[-1]['points']:+.2f} points, "
                  f"ratio {ratio:.3f}{'' if acc > best.accuracy else '  (BEHIND the baseline)'}")
    figures = {"datasets": datasets, "entries": rows, "skipped": list(args.skip),
               "cached": args.cached}
    print(f"wrote {_harness.write('baselines', figures)}")
    if args.update_zoo:
        update_zoo(strongest)


def update_zoo(strongest: dict[str, dict]) -> None:
    """strongest: dataset name -> what a manifest entry stores as its baseline
    (`baselines.record`: the strongest baseline and its split's sha256). Each entry of such a
    dataset gets it, unless the baseline it stores was fitted on another split; its card is
    rewritten. (Entries published before baselines were stored get one.)"""
    manifest = read_manifest()
    changed = []
    for name, e in sorted(manifest["entries"].items()):
        new = strongest.get(e["dataset"])
        if new is None or (e.get("baseline") or new)["split_sha256"] != new["split_sha256"]:
            continue
        if e.get("baseline") != new:
            e["baseline"] = new
            changed.append(name)
    if changed:
        write_manifest(manifest)
    for name in changed:
        card.write(name)
    print(f"updated the baseline of {len(changed)} zoo entries: {', '.join(changed) or '-'}")


if __name__ == "__main__":
    main()
