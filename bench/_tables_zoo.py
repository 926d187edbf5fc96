"""The zoo's tables (README, docs/results/zoo.md): every entry beside its simple baseline and
its circuit's simulated accuracy, the baselines, `polyzoo convert` runs, the attention menu."""
from __future__ import annotations

import textwrap

from _harness import is_current, pct, when


def _baseline_for(entry: dict, record: dict | None) -> dict | None:
    """The entry's stored baseline, else the strongest of the baselines benchmark's record."""
    if entry.get("baseline"):
        return entry["baseline"]
    if record and entry.get("dataset") in record["datasets"]:
        d = record["datasets"][entry["dataset"]]
        return next(b for b in d["baselines"] if b["name"] == d["strongest"])
    return None


def menu_entries(manifest: dict, menu: dict | None) -> list[str]:
    """The published attention-menu variants (`vit-fashion-poly-NAME`) of the menu record; its
    pointwise-gelu row is the recipe's own entry (bench_attention_menu.menu_recipe)."""
    if menu is None:
        return []
    return [r["entry"] for r in menu["rows"]
            if r["attention"] != "pointwise-gelu" and r["entry"] in manifest["entries"]]


def _lead(acc: float, base: float) -> str:
    gap = 100 * (acc - base)
    return f"{gap:+.2f}" + ("" if gap > 0 else " **behind**")


# The records whose rows simulate a zoo entry's TFHE circuit over a test split, and where.
ENCRYPTED_ROWS = {
    "micro_bert": lambda r: r["results"].items(),
    "zoo_latency": lambda r: ((row["model"], row) for row in r["entries"]),
    "encrypted_peer": lambda r: [(r["polyzoo"]["model"], r["polyzoo"])],
}


def simulated_accuracies(manifest: dict, records: dict[str, dict | None]) -> dict[str, dict]:
    """{entry: {accuracy, n, record, date}}: the simulated accuracy of each entry's TFHE
    circuit from the newest record that measured its current checkpoint (a retrained entry
    has none)."""
    found: dict[str, dict] = {}
    for name, rows in ENCRYPTED_ROWS.items():
        record = records.get(name)
        if record is None:
            continue
        for entry, row in rows(record):
            if not is_current(manifest, entry, row) or row.get("simulated_accuracy") is None:
                continue
            if entry not in found or record["date"] > found[entry]["date"]:
                found[entry] = {"accuracy": row["simulated_accuracy"], "n": row["n_sim"],
                                "record": name, "date": record["date"]}
    return found


def zoo_table(manifest: dict, record: dict | None, fold: list[str] = (),
              simulated: dict[str, dict] | None = None) -> str:
    """Every entry beside its baseline, and its TFHE circuit's simulated accuracy where a
    benchmark measured it (`simulated_accuracies`); the entries in `fold` are named in one
    line below the table instead of a row each (the README's table stays one screen)."""
    entries, simulated = manifest["entries"], simulated or {}
    rows = ["| entry | data | test accuracy | exact twin | simple baseline, same split | "
            "vs baseline | encrypted, simulated (vs baseline) |",
            "|---|---|---|---|---|---|---|"]
    for name, e in sorted(entries.items(), key=lambda kv: (kv[1].get("dataset", ""), kv[0])):
        if name in fold:
            continue
        acc = e["metrics"]["accuracy"]
        twin = entries.get(e.get("twin") or "", {}).get("metrics", {}).get("accuracy")
        b = _baseline_for(e, record)
        sim = simulated.get(name)
        base = "not measured" if b is None else f"{b['name']} {pct(b['accuracy'])}"
        vs = "-" if b is None else _lead(acc, b["accuracy"])
        enc = ("no current record" if "qat" in e else "-") if sim is None else (
            f"{pct(sim['accuracy'])} (n={sim['n']:,}"
            + ("" if b is None else f"; {_lead(sim['accuracy'], b['accuracy'])}") + ")")
        twin_cell = "-" if twin is None else f"{pct(twin)} (`{e['twin']}`)"
        rows.append(f"| `{name}` | {e.get('dataset')} | {pct(acc)} | {twin_cell} | {base} | "
                    f"{vs} | {enc} |")
    if fold:
        named = ", ".join(f"`{n}` {pct(entries[n]['metrics']['accuracy'])}" for n in fold)
        rows.append(f"\nAnd the attention menu on the Fashion recipe ({named}): "
                    "[side by side](docs/results/zoo.md#the-attention-menu-side-by-side).")
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
                        f"{pct(b['val_accuracy'])} | {pct(b['accuracy'])} | {b['seconds']} s |")
    rows.append("")
    rows.append(f"Record: `bench/results/baselines.json` ({when(record)}).")
    return "\n".join(rows)


def convert_table(record: dict | None) -> str:
    """bench_convert.py's record: both entries of `polyzoo convert` beside the baseline."""
    if record is None:
        return "No record yet: run `.venv/bin/python bench/bench_convert.py`."

    def cell(part: dict | None, base: float) -> str:
        if not part:
            return "not run"
        if "error" in part:
            return "**failed**: " + part["error"].split(": ", 1)[0]
        return f"{pct(part['accuracy'])} ({_lead(part['accuracy'], base)})"

    rows = ["| data | exact MiniLM | fully polynomial MiniLM | baseline, same split | measured |",
            "|---|---|---|---|---|"]
    notes = []
    for name, r in sorted(record["results"].items()):
        base = r["baseline_accuracy"]
        measured = f"commit {r['commit']}, {r['date'][:10]}"
        rows.append(f"| {name} | {cell(r.get('exact'), base)} | {cell(r.get('poly'), base)} | "
                    f"{r['baseline']} {pct(base)} | {measured} |")
        for key in ("exact", "poly"):
            if "error" in (r.get(key) or {}):
                notes.append(f"- {name}, {key}: {r[key]['error']}")
    rows.append("")
    rows.extend(notes + [""] if notes else [])
    rows.append(f"Record: `bench/results/convert.json` (last written at {when(record)}; "
                "each row names the commit that measured it).")
    return "\n".join(rows)


def _compiled_cell(row: dict | None) -> str:
    """bench_menu_circuits.py's row of one entry: its first block's compiled circuit."""
    if row is None:
        return "not compiled"
    if row.get("failed"):  # the innermost cause says what went wrong
        cause = row["failed"].split("; caused by ")[-1]
        return "**does not compile**: " + textwrap.shorten(cause, 160, placeholder=" …")
    lookups = sum(v for v in row["pbs_per_layer"].values() if v > 0)
    return (f"{row['pbs_per_token']:,.0f} ({100 * row['attention_pbs'] / lookups:.0f}% of the "
            f"lookups in attention), {row['max_bit_width']} bits, {row['complexity']:.1e}")


def menu_table(record: dict | None, zoo: bool = False, circuits: dict | None = None,
               manifest: dict | None = None) -> str:
    """bench_attention_menu.py's record: every attention choice on the ViT Fashion recipe at
    one budget, beside its exact twin at the same budget (zoo: the published entries, with
    their first block compiled by bench_menu_circuits.py where `circuits` has a row of the
    entry's current checkpoint)."""
    name = "attention_menu_zoo" if zoo else "attention_menu"
    if record is None:
        return (f"No record yet: run `.venv/bin/python bench/bench_attention_menu.py "
                f"{'--zoo' if zoo else '--steps-scale 0.125'}`.")
    twin = record["exact_twin"]

    def count(x, fmt="{:g}"):
        return "-" if x is None else fmt.format(x)

    def polys(site: dict) -> str:  # the stored model's, e.g. "exp(x/4)^4 24, 1/x 24 + 3 Newton"
        def name(p):
            k = 2 ** p.get("squarings", 0)
            return ("1/x" if p["fn"] == "reciprocal" else
                    f"{p['fn']}(x/{k})^{k}" if k > 1 else p["fn"])

        out = [f"{name(p)} {p['degree']}" + (f" + {p['newton']} Newton" if p.get("newton") else "")
               for p in (site.get("poly"), site.get("aux")) if p]
        return ", ".join(out) or "none"

    compiled = {}
    if zoo and circuits and manifest:
        compiled = {n: r for n, r in circuits["rows"].items() if is_current(manifest, n, r)}
    out = [f"| attention{' (zoo entry)' if zoo else ''} | polynomials (degree) | test accuracy | "
           "against the exact twin (points) | inputs off their intervals | CKKS depth of the "
           "weights | CKKS products per token | TFHE lookups per token | exports to TFHE |"
           + (" compiled first block: PBS per token, widest integer, cost estimate |"
              if zoo else ""),
           "|---|---|---|---|---|---|---|---|---|" + ("---|" if zoo else "")]
    for r in record["rows"]:
        share = r.get("out_of_range_share")
        failed = r.get("failed") and textwrap.shorten(r["failed"], 160, placeholder=" …")
        # `+ 0.0` below: a zero drop, negated, is -0.0; print it as +0.00
        measured = (f"**failed**: {failed} | - | -" if failed else
                    f"not trained yet: `{r['not_trained']}` | - | -" if r.get("not_trained")
                    else f"{pct(r['test_accuracy'])} | {-100 * r['drop_vs_exact'] + 0.0:+.2f} | "
                    f"{'-' if share is None else f'{100 * share:.4f}%'}")
        label = f"`{r['attention']}`" + (f" (`{r['entry']}`)" if zoo else "")
        out.append(f"| {label} | {polys(r['site'])} | {measured} | "
                   f"{count(r['ckks_depth_of_weights'])} | "
                   f"{count(r['ckks_products_per_token'], '{:,.0f}')} | "
                   f"{count(r['tfhe_pbs_per_token'], '{:,.0f}')} | "
                   f"{'yes' if r['exportable'] else 'no'} |"
                   + (f" {_compiled_cell(compiled.get(r['entry']))} |" if zoo else ""))
    steps = " + ".join(f"{n:,}" for n in record["steps"])
    measured = {r["attention"] for r in record["rows"]}
    missing = ([m for m in record["menu"] if m not in measured] if "menu" in record
               else ["the rest of the menu (the run stopped early)"])
    if missing:
        out.append(f"\n**Not yet measured:** {', '.join(missing)}; "
                   f"`bench/bench_attention_menu.py --steps-scale {record['steps_scale']} "
                   "--resume` measures them at this budget.")
    budget = ("its full budget" if zoo else f"{record['steps_scale']} of its steps")
    out.append(f"\nExact twin (`{twin['recipe']}` at the same budget): "
               f"{pct(twin['test_accuracy'])}. Model `{record['model']}` "
               f"({record['tokens']} tokens), recipe `{record['recipe']}` at {budget} "
               f"({steps}). The CKKS and TFHE counts are one layer's "
               "attention as the cost model counts it (`Site.cost`, `attention_pbs`). From "
               f"`bench/results/{name}.json` ({when(record)}).")
    if zoo and circuits:
        ratios = sorted(r["pbs_per_token"] / r["cost_model"]["tfhe_pbs_per_token"]
                        for r in compiled.values() if not r.get("failed"))
        ratio = (f" The compiled blocks need {ratios[0]:.2f}-{ratios[-1]:.2f}x the cost "
                 "model's count for the attention alone (the block adds its MLP and the "
                 "rounding of every accumulator)." if ratios else "")
        out.append(
            "\nCompiled first block (`bench/bench_menu_circuits.py`): the entry's first "
            "encoder block (attention and MLP) compiled by Concrete-ML at "
            f"{circuits['settings']['bits']}-bit activations and "
            f"{circuits['settings']['rounding']}-bit rounding, post-training quantised on "
            f"{circuits['settings']['calibration']} training images' embeddings, no keys: the "
            "compiler's PBS per image over the tokens, the share of the MLIR's table lookups "
            "that sit in the attention (its projections included), the widest integer and "
            "Concrete's cost estimate (`statistics['complexity']`). "
            "\"Exports to TFHE\" says that the export translates the choice; whether "
            "Concrete-ML compiles it at these grids is the last column."
            + (" Each block is compiled in `polyzoo.export.tfhe_form`: every polynomial "
               "clamped to its interval, and a normaliser's polynomial reciprocal with its "
               "Newton steps replaced by the exact reciprocal (each one lookup; quantised to "
               "these grids, the steps' encrypted products collapse)."
               if circuits["settings"].get("form") == "tfhe_form" else "")
            + ratio
            + f" Record: `bench/results/menu_circuits.json` ({when(circuits)}).")
    return "\n".join(out)
