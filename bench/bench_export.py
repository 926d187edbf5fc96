"""polyzoo's export of the micro ViT vs Concrete-ML's own path for the same network, one run.

    .venv/bin/python bench/bench_export.py [--n-test 300] [--n-encrypted 3]

polyzoo:   zoo entry 'vit-micro-mnist-qat' (QAT weights, `polyzoo train vit_micro_mnist_qat`)
           -> jaxpr -> ONNX opset 14 -> compile_onnx_model, twice: the float graph with the
           knobs below (n_bits 6, approximate rounding to 8 bits, p_error 0.05; Concrete-ML
           picks the grids, as on its torch path), and what `polyzoo export` compiles by
           default (the trained grids as Quant nodes, exact rounding 7, p_error 1e-5).
Concrete:  the same architecture as a torch module holding the same weights, through
           `compile_torch_model` with default settings, as written (4-D multi-head products)
           and rewritten with 3-D products; whether each compiles is recorded. The working
           peer is the 3-D torch module compiled with polyzoo's knobs (same weights, same
           knobs: the export routes differ, nothing else).
Measured for each: PBS, max bit-width, compile and key-generation time, simulated accuracy on
the first --n-test MNIST test images (float accuracy beside), encrypted seconds per image
(the first image apart, then the median of the others; the paths take turns, one image each
per round; every path's evaluation keys uncompressed, polyzoo's default) and whether encrypted
equals simulated on every one.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import time

import numpy as np

from _harness import accuracy, encrypted_in_turns, write

MICRO = "vit-micro-mnist-qat"  # zoo entry


def torch_micro_vit(model, params, *, products_3d: bool = True):
    """The folded micro ViT (ReLU, pointwise ReLU attention / L, no norms) in torch.

    products_3d: heads merged into the batch axis for the two attention products (Concrete-ML
    1.9 compiles encrypted matmuls of 2-D/3-D tensors only; polyzoo's exporter does this
    merge itself); False keeps the natural 4-D (B, heads, S, d) products.
    """
    import torch

    c = model.config
    if c.stem:
        raise ValueError(f"torch_micro_vit has no convolutional stem; {c.name} has one "
                         f"(stem={c.stem}): export it with polyzoo's own exporter")
    heads, hidden, tokens, (ph, pw) = c.heads, c.hidden, c.num_tokens, c.patch_size
    dh = hidden // heads

    def linear(p):
        layer = torch.nn.Linear(*np.asarray(p["kernel"]).shape)
        layer.weight.data = torch.tensor(np.asarray(p["kernel"]).T.copy())
        layer.bias.data = torch.tensor(np.asarray(p["bias"]).copy())
        return layer

    blk = params["layer_0"]

    class MicroVit(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = linear(params["embed"])
            self.pos = torch.nn.Parameter(torch.tensor(np.asarray(params["pos_embedding"])))
            self.q, self.k, self.v = (linear(blk["attn"][n]) for n in ("query", "key", "value"))
            self.out = linear(blk["attn"]["out"])
            self.fc1, self.fc2 = linear(blk["mlp"]["fc1"]), linear(blk["mlp"]["fc2"])
            self.head = linear(params["head"])

        def forward(self, x):  # (B, 28, 28, 1)
            h, w = c.image_size[0] // ph, c.image_size[1] // pw
            x = x.reshape(-1, h, ph, w, pw, 1).permute(0, 1, 3, 2, 4, 5)
            x = self.embed(x.reshape(-1, tokens, ph * pw)) + self.pos
            split = lambda t: t.reshape(-1, tokens, heads, dh).permute(0, 2, 1, 3)  # noqa: E731
            q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
            if products_3d:
                q, k, v = (t.reshape(-1, tokens, dh) for t in (q, k, v))
            weights = torch.relu(q @ k.transpose(-1, -2) * (1.0 / dh ** 0.5)) * (1.0 / tokens)
            o = (weights @ v).reshape(-1, heads, tokens, dh)
            o = o.permute(0, 2, 1, 3).reshape(-1, tokens, hidden)
            x = x + self.out(o)
            x = x + self.fc2(torch.relu(self.fc1(x)))
            return self.head(x.sum(dim=1) * (1.0 / tokens))

    return MicroVit().eval()


def measure(name, module, float_fn, x_test, y_test, compile_s):
    """Simulated accuracy and keygen of a compiled QuantizedModule (encrypted runs later, in
    `encrypted_rounds`, interleaved with the other paths)."""

    stats = module.fhe_circuit.statistics
    start = time.perf_counter()
    simulated = np.concatenate([module.forward(x_test[i:i + 100], fhe="simulate")
                                for i in range(0, len(x_test), 100)])
    sim_s = time.perf_counter() - start
    start = time.perf_counter()
    module.fhe_circuit.keygen()
    keygen_s = time.perf_counter() - start
    row = {"path": name, "pbs": int(stats["programmable_bootstrap_count"]),
           "max_bit_width": int(module.fhe_circuit.graph.maximum_integer_bit_width()),
           "compiler_complexity": float(stats["complexity"]),
           "compile_s": round(compile_s, 1), "keygen_s": round(keygen_s, 1),
           "float_accuracy": accuracy(np.asarray(float_fn(x_test)), y_test),
           "simulated_accuracy": accuracy(simulated, y_test),
           "simulate_s_per_image": round(sim_s / len(x_test), 3)}
    print(json.dumps(row), flush=True)
    return row, module, simulated


def encrypted_rounds(paths, x_test, n_encrypted):
    """Encrypted seconds per image, one image per path per round (a shared machine's load
    falls on all paths alike). The first run of a key set is reported apart (with compressed
    keys, Concrete-ML's default, it also expands them); the median is over the others."""
    figures = encrypted_in_turns(
        {row["path"]: ((lambda xb, m=module: m.forward(xb, fhe="execute")), x_test, simulated)
         for row, module, simulated in paths}, n_encrypted,
        log=lambda line: print(line, flush=True))
    for row, _, _ in paths:
        row.update(figures[row["path"]])
        print(json.dumps(row), flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-test", type=int, default=300)
    parser.add_argument("--n-encrypted", type=int, default=3,
                        help="encrypted images per path; the first is reported apart (it also "
                             "expands compressed keys), the rest give the median")
    parser.add_argument("--n-bits", type=int, default=6)
    parser.add_argument("--rounding", type=int, default=8)
    parser.add_argument("--p-error", type=float, default=0.05)
    args = parser.parse_args(argv)

    import torch
    from concrete.ml.torch.compile import compile_torch_model

    from polyzoo import zoo
    from polyzoo.export import Knobs, QuantSpec, compile_onnx, to_onnx
    from polyzoo.export import default_knobs, resolve
    from polyzoo.train.data import load_mnist

    torch.set_num_threads(1)
    # Concrete-ML reads key compression from here (default on); polyzoo's paths set it per
    # compilation (Knobs.compress_keys, default off): the torch peer's keys alike
    os.environ["USE_KEY_COMPRESSION"] = "0"
    entry = zoo.load(MICRO)  # the folded QAT network (no norms left), float32
    model, variables = entry.model, entry.variables
    params = variables["params"]
    ds = load_mnist()
    source = resolve(MICRO)  # what `polyzoo export` compiles: the trained grids, its knobs
    calib = source.calibration  # the inputs the trained grids were calibrated on
    x_test, y_test = ds.test.inputs[:args.n_test], ds.test.labels[:args.n_test]
    float_fn = functools.partial(model.apply, variables)
    knobs = Knobs(quant=QuantSpec(bits=args.n_bits, rounding_bits=args.rounding),
                  p_error=args.p_error)
    paths = []

    circuit = compile_onnx(to_onnx(float_fn, calib[:1]), calib, knobs)
    paths.append(measure("polyzoo, Concrete-ML's grids", circuit.module, float_fn, x_test,
                         y_test, circuit.compile_seconds))
    trained = compile_onnx(to_onnx(source.export_fn, calib[:1]), calib, default_knobs(source))
    paths.append(measure("polyzoo default, trained grids", trained.module, float_fn, x_test,
                         y_test, trained.compile_seconds))

    torch_model = torch_micro_vit(model, params)
    with torch.no_grad():
        parity = np.abs(torch_model(torch.tensor(x_test[:8])).numpy()
                        - np.asarray(float_fn(x_test[:8]))).max()
    print(f"torch mirror vs JAX float model: max |diff| = {parity:.2e}")
    defaults = []
    for label, mirror in (("4-D head products", torch_micro_vit(model, params,
                                                                  products_3d=False)),
                          ("3-D head products", torch_model)):
        start = time.perf_counter()
        try:
            compile_torch_model(mirror, calib)
            outcome = "compiled"
        except Exception as err:  # noqa: BLE001 - the failure is the measured outcome
            outcome = f"fails after {time.perf_counter() - start:.1f} s: " + next(
                (ln.strip("^ ") for ln in str(err).splitlines() if "bit" in ln and "^" in ln),
                str(err).splitlines()[0])[:140]
        defaults.append(f"{label}: {outcome}")
        print(json.dumps({"path": f"Concrete-ML defaults, {label}", "outcome": outcome}),
              flush=True)
    start = time.perf_counter()
    module = compile_torch_model(torch_model, calib, n_bits=knobs.concrete_n_bits(),
                                 rounding_threshold_bits=knobs.concrete_rounding(),
                                 p_error=args.p_error)
    paths.append(measure("Concrete-ML torch path, same knobs", module, float_fn, x_test,
                         y_test, time.perf_counter() - start))
    encrypted_rounds(paths, x_test, args.n_encrypted)
    rows = [row for row, _, _ in paths]

    ours, trained_row, peer = rows
    print(f"\nmicro ViT on MNIST, first {args.n_test} test images, {args.n_encrypted} encrypted")
    print(f"{'path':45s} {'PBS':>6s} {'bits':>4s} {'float':>6s} {'sim':>6s} {'first':>7s} "
          f"{'s/img':>7s}")
    for r in rows:
        print(f"{r['path']:45s} {r['pbs']:6d} {r['max_bit_width']:4d} "
              f"{100 * r['float_accuracy']:6.2f} {100 * r['simulated_accuracy']:6.2f} "
              f"{r['encrypted_first_s']:7.1f} {r['encrypted_s_per_image']:7.1f}")
    for line in defaults:
        print(f"Concrete-ML defaults (compile_torch_model, n_bits 8), {line}")
    print(f"latency ratio (Concrete-ML torch path / polyzoo): "
          f"{peer['encrypted_s_per_image'] / ours['encrypted_s_per_image']:.2f}x; "
          f"simulated accuracy {100 * ours['simulated_accuracy']:.2f}% vs "
          f"{100 * peer['simulated_accuracy']:.2f}%; compiler cost-model ratio "
          f"{peer['compiler_complexity'] / ours['compiler_complexity']:.2f}x "
          "(the latency is measured on shared cores: compare both)")
    cost = trained_row["compiler_complexity"] / ours["compiler_complexity"]
    print(f"polyzoo's default (trained grids): simulated "
          f"{100 * trained_row['simulated_accuracy']:.2f}%, "
          f"{trained_row['encrypted_s_per_image']:.1f} s per image, cost-model ratio to "
          f"Concrete-ML's grids {cost:.2f}x")
    figures = {"paths": rows, "concrete_ml_defaults": defaults, "settings": vars(args)}
    print(f"wrote {write('export', figures)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
