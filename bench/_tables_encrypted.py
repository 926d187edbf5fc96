"""The encrypted results' tables (docs/results/encrypted.md, serving.md, the README's peer):
the frontier, scaling, micro BERT, zoo latency, the Concrete-ML peer, crypto knobs, serving."""
from __future__ import annotations

from _harness import adds_nothing, is_current, pct, when


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
             f"{when(record)})."]
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
             f"micro_frontier.json` ({when(record)}).", "", "![accuracy against seconds per image]"
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
    dates = ", ".join(f"{n}: {when(r)}" for n, r in sorted(records.items()))
    return "\n".join(rows + ["", "Images in turns, one per setting per round; the median "
                             f"leaves out the first. Records ({dates})."])


def peer_table(record: dict | None, manifest: dict) -> str:
    if record is None:
        return "No record yet: run `.venv/bin/python bench/bench_encrypted_peer.py`."
    a, b = record["polyzoo"], record["peer"]
    stale = not is_current(manifest, a["model"], a)

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
            + f". Record: `bench/results/encrypted_peer.json` ({when(record)})."]
    if stale:
        rows[-1] += (f" **This record is not of the zoo's current `{a['model']}`**: the entry "
                     "was retrained after it (or the record predates checkpoint digests); "
                     "rerun `bench/bench_encrypted_peer.py` to measure the entry as it is.")
    return "\n".join(rows)


def _pbs_error_span(entries: list[dict], p_error: float = 1e-5) -> str:
    """The span of the entries' PBS x p_error bounds: as recorded (CircuitReport's
    sample_error_bound), or, for records written before the bench stored it, PBS times
    1e-5, the per-PBS bound polyzoo export asks of Concrete (its circuits report 9.7e-6)."""
    bounds = sorted(e.get("sample_error_bound", e["pbs"] * p_error) for e in entries)
    return (f"{bounds[0]:.3f}" if bounds[0] == bounds[-1]
            else f"{bounds[0]:.3f} to {bounds[-1]:.3f}")


def latency_table(record: dict | None, manifest: dict) -> str:
    """bench_zoo_latency.py's record: the zoo's encrypted entries timed in turns."""
    if record is None:
        return "No record yet: run `.venv/bin/python bench/bench_zoo_latency.py`."
    rows = ["| entry | float (stored network) | simulated | drop | baseline, same split | "
            "PBS | cost estimate | first image s | s / image (median) | / first entry | "
            "encrypted = simulated |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in record["entries"]:
        entry = manifest["entries"].get(r["model"], {})
        stale = not is_current(manifest, r["model"], r)
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
        "per round, in turns; the median leaves out the first. Encrypted = simulated counts "
        "equal logits: the simulation draws PBS errors at the circuit's p_error as execution "
        "does, so an image on which either run erred can differ (at most PBS x p_error per "
        f"image, {_pbs_error_span(record['entries'])} here). Record: "
        f"`bench/results/zoo_latency.json` ({when(record)})."])


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
        if not is_current(manifest, name, r):
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
             f"Record: `bench/results/micro_bert.json` ({when(record)}). Cost "
             "estimate: Concrete's `statistics['complexity']` of the compiled circuit."]
    if stale:
        rows[-1] += (" **Not of the zoo's current " + ", ".join(f"`{n}`" for n in stale)
                     + "**: retrained since; rerun `bench/bench_micro_bert.py`.")
    rows += ["", "![accuracy against seconds and cost per sentence](../img/micro-bert.png)"]
    return "\n".join(rows)


def _inhibitor_against_dot(rows: list[dict]) -> list[str]:
    """Per size with both attentions timed: inhibitor / dot PBS, cost and seconds, and the
    inhibitor's accuracy lead."""
    by = {(r["config"]["tokens"], r["config"]["width"], r["config"]["attention"]): r
          for r in rows}
    out = []
    for (t, w, a), inh in sorted(by.items()):
        dot = by.get((t, w, "dot"))
        if a != "inhibitor" or not dot or not (inh.get("encrypted_s_per_image")
                                               and dot.get("encrypted_s_per_image")):
            continue
        lead = 100 * (inh["emulated_test_accuracy"] - dot["emulated_test_accuracy"])
        out.append(f"{t}x{w} PBS {inh['pbs'] / dot['pbs']:.2f}x, cost "
                   f"{inh['complexity'] / dot['complexity']:.2f}x, seconds "
                   f"**{inh['encrypted_s_per_image'] / dot['encrypted_s_per_image']:.2f}x**, "
                   f"{lead:+.2f}")
    return out


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
            after = "one image" if runs == 2 else f"median of {runs - 1}"
            timing = f"**{secs:.1f}** ({after} after the first)"
        else:
            timing = "not run" + (f" (≈ {r['complexity'] * rate:,.0f} from its cost estimate)"
                                  if rate else "")
        out.append(f"| {c['tokens']} | {c['width']} | {c['attention']} | {r['pbs']:,} | "
                   f"{r['attention_layers_pbs']:,} | {r['max_bit_width']} | "
                   f"{r['complexity']:.2e} | {timing} | {pct(r['emulated_test_accuracy'])} |")
    s = record["settings"]
    pairs = _inhibitor_against_dot(rows)
    if pairs:
        out.append("\nInhibitor against dot-product attention at the same size (tokens x "
                   "width; PBS, cost estimate and seconds, each a ratio; accuracy in "
                   "points): " + "; ".join(pairs) + ".")
    rates = [1e10 * r["encrypted_s_per_image"] / r["complexity"] for r in rows
             if r.get("encrypted_s_per_image")]
    spread = f"{min(rates):.2f} to {max(rates):.2f}" if rates else ""
    if rate and len(rates) < len(rows):
        out.append(f"\nSeconds in bold were measured. The other rows ran no encrypted image; "
                   "their seconds are estimates: the cost estimate times the median rate of "
                   f"the timed rows ({1e10 * rate:.2f} s per 1e10; {spread} across them).")
    elif rate:
        out.append(f"\nEvery row was timed. Seconds per image over the cost estimate: "
                   f"{spread} s per 1e10 across the rows, median {1e10 * rate:.2f}.")
    out.append(f"\nFrom `bench/results/micro_scaling.json` ({when(record)}): every model "
               f"trained at {s['steps_scale']} of the zoo's budget, so the accuracies are not "
               "the frontier's; the sizes are.")
    out.append("\n![PBS and seconds against tokens, seconds against cost](../img/micro-scaling.png)")
    return "\n".join(out)
