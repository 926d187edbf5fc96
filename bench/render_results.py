"""Render the README's and the docs' result tables from the zoo manifest and bench/results/.

    .venv/bin/python bench/render_results.py           # rewrite the tables in place
    .venv/bin/python bench/render_results.py --check   # exit 1 if any table is out of date

Tables live between `<!-- table:NAME -->` and `<!-- /table:NAME -->` markers; everything
else in a file is left as it is. Nothing here measures: every number comes from
checkpoints/manifest.json (written by `polyzoo train`, recomputed by `polyzoo zoo eval`) or
from a benchmark's JSON record (bench/_harness.py).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # as the benchmarks import it
import _plots  # noqa: E402
from _tables_encrypted import (frontier_table, knobs_table, latency_table,  # noqa: E402
                               micro_bert_table, peer_table, scaling_table, serve_table)
from _tables_guide import fitting_tables, forward_table  # noqa: E402
from _tables_zoo import (ENCRYPTED_ROWS, baselines_table, convert_table,  # noqa: E402
                         menu_entries, menu_table, simulated_accuracies, zoo_table)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
TARGETS = (REPO / "README.md", REPO / "docs" / "results" / "zoo.md",
           REPO / "docs" / "results" / "serving.md", REPO / "docs" / "results" / "encrypted.md",
           REPO / "docs" / "guide" / "fitting.md", REPO / "docs" / "guide" / "models.md")


def load_records() -> dict[str, dict]:
    """Every benchmark record of bench/results/, by name (the file's stem), read once."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))}


def tables(records: dict[str, dict] | None = None) -> dict[str, str]:
    """{table name: its markdown} from the manifest and `records` (default: load_records())."""
    manifest = json.loads((REPO / "checkpoints" / "manifest.json").read_text())
    records = load_records() if records is None else records
    record = records.get("baselines")
    menu_zoo = records.get("attention_menu_zoo")
    simulated = simulated_accuracies(manifest, {n: records.get(n) for n in ENCRYPTED_ROWS})
    return {"zoo": zoo_table(manifest, record, simulated=simulated),
            "zoo_readme": zoo_table(manifest, record, menu_entries(manifest, menu_zoo),
                                    simulated),
            "baselines": baselines_table(record),
            "serve": serve_table(records.get("serve")),
            "convert": convert_table(records.get("convert")),
            "frontier": frontier_table(records.get("micro_frontier")),
            "scaling": scaling_table(records.get("micro_scaling")),
            "menu": menu_table(records.get("attention_menu")),
            "menu_zoo": menu_table(menu_zoo, zoo=True, circuits=records.get("menu_circuits"),
                                   manifest=manifest),
            "peer": peer_table(records.get("encrypted_peer"), manifest),
            "micro_bert": micro_bert_table(records.get("micro_bert"), manifest),
            "latency": latency_table(records.get("zoo_latency"), manifest),
            "fitting": fitting_tables(records.get("fitting")),
            "forward": forward_table(records.get("forward")),
            "knobs": knobs_table({n: r for n, r in records.items()
                                  if n.startswith("crypto_knobs_")})}


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
    records = load_records()
    rendered = tables(records)
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
    if not args.check:  # the plots are drawn, not compared
        _plots.draw({n: records.get(n) for n in ("micro_frontier", "micro_scaling",
                                                 "micro_bert", "attention_menu_zoo")})
    print(("rewrote " + ", ".join(map(str, stale))) if stale else "tables up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
