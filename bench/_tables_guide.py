"""The guides' tables: fitting (docs/guide/fitting.md) and forward passes (models.md)."""
from __future__ import annotations

from _harness import when


def _provenance(record: dict) -> str:
    return (f"Record: `bench/results/{record['benchmark']}.json` (`{record['command']}`, "
            f"{when(record)}).")


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
