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
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # as the benchmarks import it
from _harness import adds_nothing, checkpoint_digest, pct  # noqa: E402
import _plots  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
TARGETS = (REPO / "README.md", REPO / "docs" / "results" / "zoo.md",
           REPO / "docs" / "results" / "serving.md", REPO / "docs" / "results" / "encrypted.md",
           REPO / "docs" / "guide" / "fitting.md", REPO / "docs" / "guide" / "models.md")


def _when(record: dict) -> str:
    """Which run wrote a benchmark record: its commit, date and the load average then."""
    return (f"commit {record['commit']}, {record['date']}, load average "
            f"{record['load_average_1min']}")


def _current(manifest: dict, name: str, row: dict) -> bool:
    """Whether a benchmark row measured zoo entry `name` as it is now (not retrained since)."""
    entry = manifest["entries"].get(name)
    return entry is not None and row.get("checkpoint") == checkpoint_digest(entry)


def load_records() -> dict[str, dict]:
    """Every benchmark record of bench/results/, by name (the file's stem), read once."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))}


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
            if not _current(manifest, entry, row) or row.get("simulated_accuracy") is None:
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
    rows.append(f"Record: `bench/results/baselines.json` ({_when(record)}).")
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
        lead = 100 * (part["accuracy"] - base)
        return f"{pct(part['accuracy'])} ({lead:+.2f}{' **behind**' if lead <= 0 else ''})"

    rows = ["| data | exact MiniLM | fully polynomial MiniLM | baseline, same split | measured |",
            "|---|---|---|---|---|"]
    notes = []
    for name, r in sorted(record["results"].items()):
        base = r["baseline_accuracy"]
        when = f"commit {r['commit']}, {r['date'][:10]}"
        rows.append(f"| {name} | {cell(r.get('exact'), base)} | {cell(r.get('poly'), base)} | "
                    f"{r['baseline']} {pct(base)} | {when} |")
        for key in ("exact", "poly"):
            if "error" in (r.get(key) or {}):
                notes.append(f"- {name}, {key}: {r[key]['error']}")
    rows.append("")
    rows.extend(notes + [""] if notes else [])
    rows.append(f"Record: `bench/results/convert.json` (last written at {_when(record)}; "
                "each row names the commit that measured it).")
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
             f"{_when(record)})."]
    return "\n".join(rows)


def frontier_table(record: dict | None) -> str:
    if record is None:
        return "No record yet: run `.venv/bin/python bench/bench_micro_frontier.py`."
    base = record["baseline"]
    rows = ["| configuration | client embeds | linear head on the client's output | float | "
            "emulated | simulated | PBS | widest integer | s / image (median) | keygen s | "
            "encrypted = simulated |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    ordered = sorted(record["results"].items(),
                     key=lambda kv: -kv[1]["emulated_test_accuracy"])  # all test digits
    for name, r in ordered:
        secs = r.get("encrypted_s_per_image")
        runs = len(r.get("encrypted_runs_s", ()))
        same = r.get("encrypted_equals_simulated")
        rows.append(
            f"| {name} | {'yes' if r['client_embeds'] else 'no'} | "
            f"{pct(r['client_alone_accuracy']) if r.get('client_alone_accuracy') else '-'} | "
            f"{pct(r['float_test_accuracy'])} | {pct(r['emulated_test_accuracy'])} | "
            f"**{pct(r['simulated_accuracy'])}** ({r['n_sim']}) | {r['pbs']} | "
            f"{r['max_bit_width']} | "
            f"{'-' if secs is None else f'{secs:.1f} ({runs})'} | "
            f"{r.get('keygen_seconds', '-')} | "
            f"{'-' if same is None else ('yes' if same else '**no**')} |")
    best = ordered[0][1] if ordered else None
    rows += ["", f"Baseline, same split, refitted in the same run: **{base['baseline']} "
             f"{pct(base['baseline_accuracy'])}** ({base['description']}). "
             + ("" if best is None else
                f"Most accurate circuit (emulated, whole test split): {ordered[0][0]}, "
                f"{100 * (best['emulated_test_accuracy'] - base['baseline_accuracy']):+.2f} "
                "points against it" + (" (behind)." if best['emulated_test_accuracy']
                                       <= base['baseline_accuracy'] else ".")
                + ("" if not best.get("client_alone_accuracy") else
                   f" A linear head on what its client sends reaches "
                   f"{pct(best['client_alone_accuracy'])} with no circuit"
                   + (": its encrypted block adds nothing." if adds_nothing(best)
                      else "."))),
             "", "Linear head on the client's output: logistic regression on what the "
             "client sends (C chosen on validation), no circuit at all; where it is as "
             "accurate as the circuit, the encrypted block adds nothing (- : not measured). "
             "Float: the trained network before QAT; emulated: the JAX emulation of the "
             f"circuit; both on all {ordered[0][1]['n_test'] if ordered else '-'} test digits. "
             "Simulated: Concrete-ML's simulation on the first (n) test digits. Seconds: "
             "(n) encrypted images one after another, the median without the first. Record: "
             "`bench/results/"
             f"micro_frontier.json` ({_when(record)}).", "", "![accuracy against seconds per image]"
             "(../img/micro-frontier.png)"]
    return "\n".join(rows)


def knobs_table(records: dict[str, dict]) -> str:
    """The crypto_knobs_* records (bench_crypto_knobs.py): one row per setting."""
    if not records:
        return "No record yet: run `.venv/bin/python bench/bench_crypto_knobs.py`."
    rows = ["| record | entry | setting | compile s | keygen s | keys (GiB) | sent to the server "
            "(GiB) | PBS by polynomial size | first image s | s / image (median) | encrypted = "
            "simulated |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, record in sorted(records.items()):
        entry = record["settings"].get("entry", "vit-micro-mnist-qat")
        for r in record["paths"]:
            rows.append(
                f"| `{name}.json` | `{entry}` | {r['path']} | {r['compile_s']} | "
                f"{r['keygen_s']} | {r['key_gib']} | {r['sent_key_gib']} | "
                f"{r['pbs_by_polynomial_size']} | "
                f"{r['encrypted_first_s']} | **{r['encrypted_s_per_image']}** "
                f"({len(r['encrypted_runs_s']) - 1}) | "
                f"{'yes' if r['encrypted_equals_simulated'] else '**no**'} |")
        base, other = record["paths"]
        rows.append(f"| | | {other['path']} / {base['path']} | | | | | | | "
                    f"{other['encrypted_s_per_image'] / base['encrypted_s_per_image']:.2f}x | |")
    dates = ", ".join(f"{n}: {_when(r)}" for n, r in sorted(records.items()))
    return "\n".join(rows + ["", "Images in turns, one per setting per round; the median "
                             f"leaves out the first. Records ({dates})."])


def peer_table(record: dict | None, manifest: dict) -> str:
    if record is None:
        return "No record yet: run `.venv/bin/python bench/bench_encrypted_peer.py`."
    a, b = record["polyzoo"], record["peer"]
    stale = not _current(manifest, a["model"], a)

    def cell(row, key, fmt="{}"):
        return "-" if row.get(key) is None else fmt.format(row[key])
    rows = ["| | polyzoo: `" + a["model"] + "` | Concrete-ML: `NeuralNetClassifier` |",
            "|---|---|---|",
            f"| simulated accuracy | **{pct(a['simulated_accuracy'])}** (n={a['n_sim']}) | "
            f"**{pct(b['simulated_accuracy'])}** (n={b['n_sim']}) |",
            f"| encrypted seconds per image | {cell(a, 'encrypted_s_per_image')} | "
            f"{cell(b, 'encrypted_s_per_image')} |",
            f"| encrypted runs (s) | {', '.join(map(str, a.get('encrypted_runs_s', [])))} | "
            f"{', '.join(map(str, b.get('encrypted_runs_s', [])))} |",
            f"| encrypted = simulated | {cell(a, 'encrypted_equals_simulated')} | "
            f"{cell(b, 'encrypted_equals_simulated')} |",
            f"| PBS per image | {a['pbs']} | {b['pbs']} |",
            f"| widest integer (bits) | {a['max_bit_width']} | {b['max_bit_width']} |",
            f"| evaluation keys (MiB) | {cell(a, 'evaluation_key_mib')} | "
            f"{cell(b, 'evaluation_key_mib')} |",
            f"| key generation (s) | {cell(a, 'keygen_s')} | {cell(b, 'keygen_s')} |",
            f"| compile (s) | {a['compile_s']} | {b['compile_s']} |",
            f"| training (s) | {cell(a, 'train_s')} | {cell(b, 'train_s')} |",
            f"| the client computes | {'the patch embedding' if a['client_computes'] != 'nothing' else 'nothing'} | nothing |",
            "", f"Peer: `{b['model']}`. polyzoo − peer: "
            f"{record['accuracy_lead_points']:+.2f} points; polyzoo / peer: "
            + ", ".join(f"{k} {v:.2f}x" for k, v in record["ratio_polyzoo_over_peer"].items())
            + f". Record: `bench/results/encrypted_peer.json` ({_when(record)})."]
    if stale:
        rows[-1] += (f" **This record is not of the zoo's current `{a['model']}`**: the entry "
                     "was retrained after it (or the record predates checkpoint digests); "
                     "rerun `bench/bench_encrypted_peer.py` to measure the entry as it is.")
    return "\n".join(rows)


def latency_table(record: dict | None, manifest: dict) -> str:
    """bench_zoo_latency.py's record: the zoo's encrypted entries timed in turns."""
    if record is None:
        return "No record yet: run `.venv/bin/python bench/bench_zoo_latency.py`."
    rows = ["| entry | float (stored network) | simulated | drop | baseline, same split | "
            "PBS | cost estimate | first image s | s / image (median) | / first entry | "
            "encrypted = simulated |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in record["entries"]:
        entry = manifest["entries"].get(r["model"], {})
        stale = not _current(manifest, r["model"], r)
        acc = entry.get("metrics", {}).get("accuracy")
        drop = "-" if acc is None else f"{100 * (acc - r['simulated_accuracy']):.2f}"
        b = entry.get("baseline")
        base = "-" if not b else (f"{b['name']} {pct(b['accuracy'])} "
                                  f"({100 * (r['simulated_accuracy'] - b['accuracy']):+.2f})")
        rows.append(
            f"| `{r['model']}`{' (**stale record**)' if stale else ''} | {pct(acc)} | "
            f"**{pct(r['simulated_accuracy'])}** ({r['n_sim']}) | {drop} | {base} | "
            f"{r['pbs']:,} | {r['compiler_complexity']:.2e} | {r['encrypted_first_s']} | "
            f"**{r['encrypted_s_per_image']}** ({len(r['encrypted_runs_s']) - 1}) | "
            f"{r['s_per_image_over_reference']:.2f}x | {r['encrypted_equal_outputs']} |")
    return "\n".join(rows + [
        "", "Simulated: Concrete-ML's simulation of the compiled circuit on the first (n) test "
        "digits; drop: float forward of the stored network minus simulated. One image per entry "
        "per round, in turns; the median leaves out the first. Record: "
        f"`bench/results/zoo_latency.json` ({_when(record)})."])


def micro_bert_table(record: dict | None, manifest: dict) -> str:
    """bench_micro_bert.py's record: each encrypted micro BERT beside the bag of words."""
    if record is None:
        return "No record yet: run `.venv/bin/python bench/bench_micro_bert.py`."
    base = record["baselines"]
    rows = ["| entry | attention | words (tokens) | encrypted numbers | float | simulated | PBS "
            "(attention layers) | widest integer | PBS by polynomial size | cost estimate | "
            "s / sentence (median) | encrypted = simulated | some PBS errs, per sentence |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    stale = []
    for name, r in record["results"].items():
        if not _current(manifest, name, r):
            stale.append(name)
        secs = r.get("encrypted_s_per_image")
        n_runs = len(r.get("encrypted_runs_s", ())) - 1
        equal = r.get("encrypted_equal_outputs")  # k/n encrypted logits equal to simulated
        # union bound on some PBS of one sentence erring (records before it: from the knob)
        p_err = r.get("sample_error_bound") or min(1.0, r["pbs"] * r["knobs"]["p_error"])
        sizes = ", ".join(f"{n} on {k}" for k, n in r["pbs_per_polynomial_size"].items())
        cost = r.get("compiler_complexity")
        rows.append(
            f"| `{name}` | {r['attention']['choice']} | {r['words']} ({r['tokens']}) | "
            f"{r['encrypted_numbers_per_sentence']} | {pct(r['float_accuracy'])} | "
            f"**{pct(r['simulated_accuracy'])}** "
            f"({r['n_sim']}) | {r['pbs']} ({r['attention_layers_pbs']}) | {r['max_bit_width']} | "
            f"{sizes} | {'-' if cost is None else f'{cost:.2g}'} | "
            f"{'-' if secs is None else f'**{secs:.1f}** ({n_runs})'} | "
            f"{equal or '-'} | at most {p_err:.2g} |")
    tfidf = base["tfidf"]
    rows += ["", f"Baselines, same split, same run: **{tfidf['name']} {pct(tfidf['accuracy'])}** "
             f"({tfidf['description']}); majority class "
             f"{pct(base['majority_class_accuracy'])}. "
             + " ".join(f"`{n}`: {100 * (r['simulated_accuracy'] - tfidf['accuracy']):+.2f} "
                        "points against the bag of words"
                        + (" (**behind**)." if r["simulated_accuracy"] <= tfidf["accuracy"]
                           else ".") for n, r in record["results"].items()),
             "", "Simulated: Concrete-ML's simulation on the first (n) test snippets. Seconds: "
             "encrypted sentences one after another, the median without the first. Encrypted "
             "= simulated counts equal logits; the simulation draws PBS errors at the circuit's "
             "p_error too, so a sentence on which either run erred can differ (the bound is "
             "PBS x p_error; most such errors do not reach the logits). "
             f"Record: `bench/results/micro_bert.json` ({_when(record)}). Cost "
             "estimate: Concrete's `statistics['complexity']` of the compiled circuit."]
    if stale:
        rows[-1] += (" **Not of the zoo's current " + ", ".join(f"`{n}`" for n in stale)
                     + "**: retrained since; rerun `bench/bench_micro_bert.py`.")
    rows += ["", "![accuracy against seconds and cost per sentence](../img/micro-bert.png)"]
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
            f"lookups in attention), {row['max_bit_width']} bits")


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
        compiled = {n: r for n, r in circuits["rows"].items() if _current(manifest, n, r)}
    out = [f"| attention{' (zoo entry)' if zoo else ''} | polynomials (degree) | test accuracy | "
           "against the exact twin (points) | inputs off their intervals | CKKS depth of the "
           "weights | CKKS products per token | TFHE lookups per token | exports to TFHE |"
           + (" compiled first block: PBS per token, widest integer |" if zoo else ""),
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
               f"`bench/results/{name}.json` ({_when(record)}).")
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
            "that sit in the attention (its projections included), and the widest integer. "
            "\"Exports to TFHE\" says that the export translates the choice; whether "
            "Concrete-ML compiles it at these grids is the last column." + ratio
            + f" Record: `bench/results/menu_circuits.json` ({_when(circuits)}).")
    return "\n".join(out)


def scaling_table(record: dict | None) -> str:
    """PBS, widest lookup and seconds per image of every tokens x width x attention row."""
    if record is None:
        return "No record yet: run `.venv/bin/python bench/bench_micro_scaling.py`."
    rows = sorted(record["results"].values(), key=lambda r: (
        r["config"]["tokens"], r["config"]["width"], r["config"]["attention"]))
    out = ["| tokens | width | attention | PBS | of them in attention | widest lookup (bits) "
           "| compiler cost estimate | seconds per image | emulated accuracy |",
           "|---|---|---|---|---|---|---|---|---|"]
    rate = record.get("seconds_per_cost")
    for r in rows:
        c, secs = r["config"], r.get("encrypted_s_per_image")
        runs = len(r.get("encrypted_runs_s") or [])
        if secs:
            timing = f"**{secs:.1f}** (median of {runs - 1} after the first)"
        else:
            timing = "not run" + (f" (≈ {r['complexity'] * rate:,.0f} from its cost estimate)"
                                  if rate else "")
        out.append(f"| {c['tokens']} | {c['width']} | {c['attention']} | {r['pbs']:,} | "
                   f"{r['attention_layers_pbs']:,} | {r['max_bit_width']} | "
                   f"{r['complexity']:.2e} | {timing} | {pct(r['emulated_test_accuracy'])} |")
    s = record["settings"]
    if rate:
        out.append(f"\nSeconds in bold were measured. The other rows ran no encrypted image; "
                   "their seconds are estimates: the cost estimate times the median rate of "
                   f"the timed rows ({1e10 * rate:.2f} s per 1e10).")
    out.append(f"\nFrom `bench/results/micro_scaling.json` ({_when(record)}): every model "
               f"trained at {s['steps_scale']} of the zoo's budget, so the accuracies are not "
               "the frontier's; the sizes are.")
    out.append("\n![PBS and cost against tokens, seconds against cost](../img/micro-scaling.png)")
    return "\n".join(out)


def _provenance(record: dict) -> str:
    return (f"Record: `bench/results/{record['benchmark']}.json` (`{record['command']}`, "
            f"{_when(record)}).")


def fitting_tables(record: dict | None) -> str:
    """bench_fitting.py's record: minimax error beside numpy's at equal degree, fit times."""
    if record is None:
        return "No record yet: run `.venv/bin/python bench/bench_fitting.py`."
    out = ["| function | interval | degree | minimax error | certificate − 1 | numpy "
           "chebinterpolate | ratio | numpy chebfit (LS) | ratio |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in record["quality"]:
        a, b = r["interval"]
        mm = r["minimax_error"]
        floor = " (float64 floor)" if r.get("float64_floor") else ""
        out.append(f"| {r['function']} | [{a:g}, {b:g}] | {r['degree']} | {mm:.3e} | "
                   f"{r['certificate_minus_1']:.1e}{floor} | {r['chebinterpolate_error']:.3e} | "
                   f"{r['chebinterpolate_error'] / mm:.2f} | {r['chebfit_error']:.3e} | "
                   f"{r['chebfit_error'] / mm:.2f} |")
    out += ["", "| degree | Remez iterations | warm minimax fit (ms) | numpy chebinterpolate "
            "(ms) | ratio |", "|---|---|---|---|---|"]
    out += [f"| {r['degree']} | {r['iterations']} | {1e3 * r['minimax_s']:.2f} | "
            f"{1e3 * r['numpy_s']:.2f} | {r['ratio']:.1f} |" for r in record["speed"]]
    batched = "; ".join(
        f"degree {r['degree']}: {r['minimax_s']:.2f} s for {r['batch']:,} intervals in one "
        f"vmapped call ({1e3 * r['minimax_s'] / r['batch']:.2f} ms per fit; numpy's "
        f"interpolation, not a minimax fit, {r['numpy_s']:.2f} s)" for r in record["throughput"])
    return "\n".join(out + ["", f"Batched: {batched}.", "", _provenance(record)])


def forward_table(record: dict | None) -> str:
    """bench_forward.py's record: jitted forward rates, onnxruntime beside them."""
    if record is None:
        return "No record yet: run `.venv/bin/python bench/bench_forward.py`."
    st = record["settings"]
    bert, vit = record["bert_sequences_per_s"], record["vit_images_per_s"]
    ort = next(v for k, v in bert.items() if k.startswith("onnxruntime"))
    exact = next(v for k, v in bert.items() if k.endswith("bert-l3 exact"))
    out = ["| model | rate | vs onnxruntime (exact) | vs polyzoo exact |", "|---|---|---|---|"]
    out += [f"| {k} | {v:.1f} sequences/s | {v / ort:.2f} | "
            f"{'' if k.startswith('onnxruntime') else f'{v / exact:.2f}'} |"
            for k, v in bert.items()]
    vit_exact = next(v for k, v in vit.items() if k.endswith("exact"))
    out += [f"| {k} | {v:.0f} images/s | | {v / vit_exact:.2f} |" for k, v in vit.items()]
    # Records before the ViT batch was stored ran it at 16 x the BERT batch (bench_forward.py).
    vit_batch = st.get("vit_batch", 16 * st["batch"])
    return "\n".join(out + ["", f"BERT: batch {st['batch']} × {st['seq']} tokens; ViT: batch "
                            f"{vit_batch} images; medians of {st['runs']} interleaved "
                            "rounds. " + _provenance(record)])


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
