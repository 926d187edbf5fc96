"""Every zoo entry beside the simple model a user would pick instead, on the same split.

    .venv/bin/python bench/bench_baselines.py                 # every dataset in the zoo
    .venv/bin/python bench/bench_baselines.py reviews.csv     # and a user's CSV / NPZ
    .venv/bin/python bench/bench_baselines.py --cached        # reuse cached baselines
    .venv/bin/python bench/bench_baselines.py --skip fashion_mnist   # leave a dataset out

Baselines (polyzoo.train.baselines): TF-IDF + logistic regression for text, logistic
regression and a 256-unit MLP for images, each selected on the validation split only. They are
refitted in this run unless --cached. The ratio printed is entry accuracy / baseline accuracy
(above 1: the transformer is ahead). Record: bench/results/baselines.json.
"""
from __future__ import annotations

import argparse

import _harness
from polyzoo.train import baselines, data
from polyzoo.zoo.registry import read_manifest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("datasets", nargs="*", help="extra .csv / .npz files")
    ap.add_argument("--cached", action="store_true", help="reuse cached baselines")
    ap.add_argument("--skip", nargs="*", default=(), metavar="NAME",
                    help="zoo datasets to leave out of this run (their rows stay unmeasured)")
    args = ap.parse_args()
    entries = read_manifest()["entries"]
    names = [n for n in sorted({e["dataset"] for e in entries.values()}) if n not in args.skip]
    names += list(args.datasets)
    rows, datasets = [], {}
    for name in names:
        ds = data.load(name)
        found = baselines.baselines(ds, cache=args.cached)
        best = baselines.pick(found)
        datasets[name] = {"split_sha256": baselines.split_hash(ds),
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


if __name__ == "__main__":
    main()
