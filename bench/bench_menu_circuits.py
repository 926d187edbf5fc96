"""One encoder layer of each attention-menu zoo entry, compiled to a TFHE circuit by Concrete-ML.

    .venv/bin/python bench/bench_menu_circuits.py [--calibration 64] [--rounding 7] [--resume]
    .venv/bin/python bench/bench_menu_circuits.py --entries vit-micro-mnist-inhibitor  # any ViT

The menu table (`bench_attention_menu.py --zoo`) counts one layer's attention with the cost
model (`attention_pbs`); this compiles it. For each entry (default: the menu's published
entries, `vit-fashion-poly-NAME`) the BatchNorms are folded, the model is put in
`export.tfhe_form` (polynomials clamped to their intervals, attention normalisers' reciprocals
exact: each one lookup), and the first encoder block (attention and MLP) is translated to ONNX
on the patch embeddings of --calibration training images (what the client computes, as for
`polyzoo export`), then compiled at the zoo's default grids without quantisation-aware
training: Concrete-ML's post-training quantisation at micro.DEFAULT_QUANT's activation and
rounding bits, p_error micro.DEFAULT_P_ERROR. No keys and no encrypted run: the compiler's
statistics are the measurement (PBS per image, per layer and by polynomial size, the widest
integer, Concrete's cost estimate, compile seconds); the cost model's count is recorded beside
them. A block Concrete cannot compile (a lookup over 16 bits, or Concrete failing inside) is a
row too, with the compiler's message and where it failed. Rows are written one at a time
(bench/results/menu_circuits.json); --resume keeps the rows of the entries' current checkpoints
measured with the same settings and tries the failed ones again.
"""
from __future__ import annotations

import argparse
import json
import time
import traceback

import numpy as np

from _harness import RESULTS, checkpoint_digest, write
from bench_attention_menu import MENU, attention_cost, menu_recipe

from polyzoo.export.micro import DEFAULT_P_ERROR, DEFAULT_QUANT  # the zoo's grids

NAME = "menu_circuits"


def menu_entries() -> dict[str, str]:
    """{zoo entry: attention row} of the menu (bench_attention_menu.menu_recipe)."""
    from polyzoo.zoo import recipe as recipe_lib

    poly = recipe_lib.load_recipe("vit_fashion_poly")
    return {menu_recipe(poly, name).name: name for name in MENU}


def _failure(err: Exception) -> str:
    """What went wrong and where: Concrete's internal assertions carry no message."""
    causes = []
    while err is not None:  # the chain, outermost first: Concrete wraps what failed inside
        frame = traceback.extract_tb(err.__traceback__)[-1]
        where = f"{frame.filename.rsplit('site-packages/', 1)[-1]}:{frame.lineno} {frame.name}"
        text = (str(err) or frame.line).strip().splitlines()[0]  # not the graph dumps
        causes.append(f"{type(err).__name__} in {where}: {text[:300]}")
        err = err.__cause__ or err.__context__
    return "; caused by ".join(causes)


def block_circuit(name: str, n_calibration: int, rounding: int) -> dict:
    """Compile the first encoder block of zoo entry `name`; the row of the record."""
    import jax

    from polyzoo import models, zoo
    from polyzoo.export import (CircuitTooWide, Knobs, QuantSpec, check_onnx, circuit_report,
                                compile_onnx, tfhe_form, to_onnx)
    from polyzoo.train import data

    entry = zoo.load(name)
    model, variables = entry.model, entry.variables
    if not isinstance(model.config, models.VitConfig):
        raise SystemExit(f"{name} is not a ViT: this benchmark compiles a ViT's first block")
    if any(model.spec.site(s).behaviour.folds for s in model.site_names()):
        model, variables = models.fold_batchnorms(model, variables)
    model = tfhe_form(model)
    images = data.load(entry.meta["dataset"]).train.inputs[:n_calibration]
    embeddings = np.asarray(jax.jit(lambda x: model.apply(variables, x,
                                                          method="embed_patches"))(images))

    def block(x):  # (B, tokens, hidden) -> (B, tokens, hidden): attention and MLP
        return model.apply(variables, x, method=lambda m, x: m.layer_0(x, None, False))

    config, site = model.config, model.spec.site("layer_0/attn/softmax")
    row = {"entry": name, "checkpoint": checkpoint_digest(entry.meta),
           "tokens": config.num_tokens, "hidden": config.hidden, "heads": config.heads,
           "site": site.to_dict(), "calibration": int(len(embeddings)),
           "cost_model": attention_cost(site, config)}
    graph = to_onnx(block, embeddings[:1])
    row["onnx_vs_jax_max_gap"] = float(check_onnx(graph, block, embeddings[:8]))
    knobs = Knobs(quant=QuantSpec(bits=DEFAULT_QUANT.bits, rounding_bits=rounding),
                  p_error=DEFAULT_P_ERROR)
    t0 = time.perf_counter()
    try:
        circuit = compile_onnx(graph, embeddings, knobs)
    except CircuitTooWide as err:
        return {**row, "failed": str(err), "seconds": round(time.perf_counter() - t0, 1)}
    except (AssertionError, RuntimeError) as err:  # Concrete failing inside: a result too
        return {**row, "failed": _failure(err), "seconds": round(time.perf_counter() - t0, 1)}
    report = circuit_report(circuit)
    attention = {k: v for k, v in report.pbs_per_layer.items() if "/attn" in k}
    widths = [v for k, v in report.bit_width_per_layer.items() if "/attn" in k]
    return {**row, "pbs": report.pbs, "pbs_per_token": report.pbs / config.num_tokens,
            "attention_pbs": sum(attention.values()),
            "attention_pbs_per_token": sum(attention.values()) / config.num_tokens,
            "max_bit_width": report.max_bit_width,
            "attention_max_bit_width": max(widths, default=None),
            "pbs_per_layer": report.pbs_per_layer,
            "bit_width_per_layer": report.bit_width_per_layer,
            "pbs_per_polynomial_size": {str(k): v for k, v in
                                        sorted(report.pbs_per_polynomial_size.items())},
            "complexity": report.cost_estimate,
            "compile_seconds": round(report.compile_seconds, 1), "knobs": report.knobs}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", nargs="*", default=None,
                    help="zoo ViT entries (default: the attention menu's published entries)")
    ap.add_argument("--calibration", type=int, default=64,
                    help="training images whose embeddings Concrete-ML calibrates on")
    ap.add_argument("--rounding", type=int, default=DEFAULT_QUANT.rounding_bits,
                    help="accumulator rounding bits (default: the zoo's)")
    ap.add_argument("--resume", action="store_true",
                    help="keep the rows already recorded for the entries' current checkpoints")
    args = ap.parse_args(argv)
    if args.calibration < 2:
        ap.error(f"--calibration must be at least 2, got {args.calibration}")
    if not 2 <= args.rounding <= 8:  # Concrete-ML's range for rounding_threshold_bits
        ap.error(f"--rounding must be 2..8 bits, got {args.rounding}")
    from polyzoo import zoo

    published = set(zoo.names())
    menu = menu_entries()
    names = args.entries if args.entries is not None else [n for n in menu if n in published]
    unknown = [n for n in names if n not in published]
    if unknown:
        ap.error(f"not in the zoo: {', '.join(unknown)} (`polyzoo zoo list` names the entries)")
    not_vit = [n for n in names if not zoo.entry_meta(n)["model"]["name"].startswith("vit")]
    if not_vit:
        ap.error(f"not ViTs: {', '.join(not_vit)} (this benchmark compiles a ViT's first block)")
    path = RESULTS / f"{NAME}.json"
    settings = {"calibration": args.calibration, "bits": DEFAULT_QUANT.bits,
                "rounding": args.rounding, "form": "tfhe_form"}
    old = json.loads(path.read_text()) if args.resume and path.exists() else {}
    old = old.get("rows", {}) if old.get("settings") == settings else {}
    rows = {n: r for n, r in old.items() if n in published and not r.get("failed")
            and r.get("checkpoint") == checkpoint_digest(zoo.entry_meta(n))}
    for name in names:
        if name in rows:
            continue
        print(f"{name} ...", flush=True)
        rows[name] = {"attention": menu.get(name),
                      **block_circuit(name, args.calibration, args.rounding)}
        shown = {k: rows[name].get(k) for k in ("pbs", "attention_pbs_per_token",
                                                "max_bit_width", "compile_seconds", "failed")}
        print(json.dumps(shown), flush=True)
        write(NAME, {"settings": settings, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
