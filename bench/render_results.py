"""Render the README's and the docs' result tables from the zoo manifest and bench/results/.

    .venv/bin/python bench/render_results.py           # rewrite the tables in place
    .venv/bin/python bench/render_results.py --check   # exit 1 if any table is out of date

Tables live between `<!-- table:NAME -->` and `<!-- /table:NAME -->` markers; everything
else in a file is left as it is. Nothing here measures: every number comes from
checkpoints/manifest.json (written by `polyzoo train`, recomputed by `polyzoo zoo eval`) or
from a benchmark's JSON record (bench/_record.py).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
TARGETS = (REPO / "README.md", REPO / "docs" / "results" / "zoo.md",
           REPO / "docs" / "results" / "serving.md")


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _record(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _baseline_for(entry: dict, record: dict | None) -> dict | None:
    """The entry's stored baseline, else the strongest of the baselines benchmark's record."""
    if entry.get("baseline"):
        return entry["baseline"]
    if record and entry.get("dataset") in record["datasets"]:
        d = record["datasets"][entry["dataset"]]
        return next(b for b in d["baselines"] if b["name"] == d["strongest"])
    return None


def zoo_table(manifest: dict, record: dict | None) -> str:
    entries = manifest["entries"]
    rows = ["| entry | data | test accuracy | exact twin | simple baseline, same split | "
            "vs baseline |", "|---|---|---|---|---|---|"]
    for name, e in sorted(entries.items(), key=lambda kv: (kv[1].get("dataset", ""), kv[0])):
        acc = e["metrics"]["accuracy"]
        twin = entries.get(e.get("twin") or "", {}).get("metrics", {}).get("accuracy")
        b = _baseline_for(e, record)
        if b is None:
            base, vs = "not measured", "-"
        else:
            gap = 100 * (acc - b["accuracy"])
            base = f"{b['name']} {_pct(b['accuracy'])}"
            vs = f"{gap:+.2f}" + ("" if gap > 0 else " **behind**")
        twin_cell = "-" if twin is None else f"{_pct(twin)} (`{e['twin']}`)"
        rows.append(f"| `{name}` | {e.get('dataset')} | {_pct(acc)} | {twin_cell} | {base} | "
                    f"{vs} |")
    return "\n".join(rows)


def baselines_table(record: dict | None) -> str:
    if record is None:
        return "No record yet: run `.venv/bin/python bench/bench_baselines.py`."
    rows = ["| data | baseline | what | validation | test | "
            "fit time (when first fitted, shared machine) |",
            "|---|---|---|---|---|---|"]
    for name, d in sorted(record["datasets"].items()):
        for b in d["baselines"]:
            star = " (strongest)" if b["name"] == d["strongest"] else ""
            rows.append(f"| {name} | {b['name']}{star} | {b['description']} | "
                        f"{_pct(b['val_accuracy'])} | {_pct(b['accuracy'])} | {b['seconds']} s |")
    rows.append("")
    rows.append(f"Record: `bench/results/baselines.json` (commit {record['commit']}, "
                f"{record['date']}, load average {record['load_average_1min']}).")
    return "\n".join(rows)


def serve_table(record: dict | None) -> str:
    if record is None:
        return "No record yet: run `.venv/bin/python bench/bench_serve.py`."
    m = record["median_s"]
    rows = ["| path | seconds per image (median) | runs |", "|---|---|---|",
            f"| in-process (`Server.run_one`) | {m['in_process_s']:.2f} | "
            f"{', '.join(f'{s:.1f}' for s in record['runs_s']['in_process_s'])} |",
            f"| HTTP (`RemoteClient` -> `polyzoo serve`) | {m['http_s']:.2f} | "
            f"{', '.join(f'{s:.1f}' for s in record['runs_s']['http_s'])} |",
            "", f"HTTP / in-process: **{record['http_over_in_process']:.3f}x**. "
            f"Evaluation keys {record['evaluation_key_gib']} GiB: generated in "
            f"{record['keygen_s']} s, uploaded (streamed, stored, validated) in "
            f"{record['http_key_upload_s']} s, loaded in-process in "
            f"{record['in_process_key_load_s']} s. Every output equals the simulation: "
            f"{'yes' if record['all_equal_simulation'] else '**no**'} "
            f"({record['outputs_compared']} compared).", "",
            "| concurrent clients | requests | p50 round trip (s) | p95 (s) | requests / min |",
            "|---|---|---|---|---|"]
    for clients, c in sorted(record["concurrent_clients"].items(), key=lambda kv: int(kv[0])):
        rows.append(f"| {clients} | {c['requests']} | {c['p50_s']} | {c['p95_s']} | "
                    f"{c['requests_per_minute']} |")
    rows += ["", f"Record: `bench/results/serve.json` ({record['model']}, {record['pbs']} PBS; "
             f"commit {record['commit']}, {record['date']}, load average "
             f"{record['load_average_1min']})."]
    return "\n".join(rows)


def tables() -> dict[str, str]:
    manifest = json.loads((REPO / "checkpoints" / "manifest.json").read_text())
    record = _record("baselines")
    return {"zoo": zoo_table(manifest, record), "baselines": baselines_table(record),
            "serve": serve_table(_record("serve"))}


def render(text: str, rendered: dict[str, str]) -> str:
    def fill(m):
        name = m.group(1)
        if name not in rendered:
            raise KeyError(f"unknown table {name!r}; known: {', '.join(sorted(rendered))}")
        return f"<!-- table:{name} -->\n{rendered[name]}\n<!-- /table:{name} -->"

    return re.sub(r"<!-- table:(\w+) -->.*?<!-- /table:\1 -->", fill, text, flags=re.S)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if a table is out of date")
    args = ap.parse_args()
    rendered = tables()
    stale = []
    for path in TARGETS:
        old = path.read_text()
        new = render(old, rendered)
        if new != old:
            stale.append(path.relative_to(REPO))
            if not args.check:
                path.write_text(new)
    if args.check and stale:
        print(f"out of date: {', '.join(map(str, stale))}; run "
              "`.venv/bin/python bench/render_results.py`", file=sys.stderr)
        return 1
    print(("rewrote " + ", ".join(map(str, stale))) if stale else "tables up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
