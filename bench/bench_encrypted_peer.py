"""The zoo's encrypted micro ViT against Concrete-ML's own encrypted MLP, in one run, in turns.

    .venv/bin/python bench/bench_encrypted_peer.py [--entry vit-micro-mnist-qat]
        [--epochs 10] [--n-sim 2000] [--peer-n-sim N] [--n-encrypted 6]
        [--peer-n-encrypted N]

polyzoo: zoo entry --entry, compiled as `polyzoo export` compiles it (its trained grids as
         Quant nodes, the knobs it was trained for, p_error 1e-5); a client-embedding entry's
         client computes the patch embedding in the clear and encrypts the embeddings.
peer:    what a Concrete-ML user would pick instead: `concrete.ml.sklearn.NeuralNetClassifier`
         as in Concrete-ML's MNIST example (`module__n_layers=3`, ReLU, its other defaults:
         4-bit weights and activations, hidden width 4 x 784), trained by skorch for --epochs
         epochs on the same 7,001 training digits (flattened), compiled on them.
Measured for both: training and compile seconds, simulated accuracy on the first --n-sim
test digits (default: all 2,000), evaluation-key size, key generation, and encrypted seconds
per image (one image per model per round, so the machine's load falls on both alike; the
first image apart, the median of the others), each output compared with its simulation.
Prints polyzoo / peer ratios; writes bench/results/encrypted_peer.json.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from _harness import accuracy, checkpoint_digest, encrypted_in_turns, write

DEFAULT_ENTRY = "vit-micro-mnist-inhibitor-w24-q4-b5"  # the zoo's fastest encrypted model ahead
                                                     # of the MLP (`polyzoo demo`'s)


def polyzoo_side(entry: str, n_sim: int):
    """(figures, Concrete-ML module, circuit inputs of the test split, their simulation)."""
    from polyzoo.export import (circuit_report, compile_onnx, default_knobs, resolve,
                                simulate_batched, to_onnx)
    from polyzoo.zoo.registry import read_manifest

    source = resolve(entry)
    calib = np.asarray(source.calibration, np.float32)
    target = source.export_fn or source.fn
    circuit = compile_onnx(to_onnx(target, calib[:1]), calib, default_knobs(source))
    x, y = source.test_x[:n_sim], source.test_y[:n_sim]
    t0 = time.perf_counter()
    simulated = simulate_batched(circuit, x)
    simulate_s = round(time.perf_counter() - t0, 1)
    report = circuit_report(circuit)
    meta = read_manifest()["entries"][entry]
    row = {"model": entry, "checkpoint": checkpoint_digest(meta),
           "client_computes": source.client or "nothing", "train_s": meta.get("train_time_s"),
           "compile_s": round(circuit.compile_seconds, 1),
           "simulate_s": simulate_s,
           "simulated_accuracy": accuracy(simulated, y), "n_sim": int(len(y)),
           "pbs": report.pbs, "max_bit_width": report.max_bit_width,
           "sample_error_bound": report.sample_error_bound}
    return row, circuit.module, x, simulated


def peer_side(ds, epochs: int, n_sim: int):
    import torch
    from concrete.ml.sklearn import NeuralNetClassifier

    flat = lambda a: np.asarray(a, np.float32).reshape(len(a), -1)  # noqa: E731
    x_train, y_train = flat(ds.train.inputs), np.asarray(ds.train.labels, np.int64)
    x, y = flat(ds.test.inputs)[:n_sim], ds.test.labels[:n_sim]
    torch.manual_seed(0)
    model = NeuralNetClassifier(module__n_layers=3, module__activation_function=torch.nn.ReLU,
                                max_epochs=epochs, verbose=0)
    t0 = time.perf_counter()
    model.fit(x_train, y_train)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.compile(x_train)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    simulated = np.concatenate([model.predict_proba(x[i:i + 100], fhe="simulate")
                                for i in range(0, len(x), 100)])
    stats = model.fhe_circuit.statistics
    row = {"model": f"concrete.ml.sklearn.NeuralNetClassifier(module__n_layers=3, ReLU, "
                    f"max_epochs={epochs})", "client_computes": "nothing",
           "train_s": round(train_s, 1), "compile_s": round(compile_s, 1),
           "simulate_s": round(time.perf_counter() - t0, 1),
           "float_accuracy": accuracy(model.predict_proba(x), y),
           "simulated_accuracy": accuracy(simulated, y), "n_sim": int(len(y)),
           "pbs": int(stats["programmable_bootstrap_count"]),
           "max_bit_width": int(model.fhe_circuit.graph.maximum_integer_bit_width())}
    return row, model, x, simulated


def keygen(row: dict, fhe_circuit) -> None:
    t0 = time.perf_counter()
    fhe_circuit.keygen()
    row["keygen_s"] = round(time.perf_counter() - t0, 1)
    row["evaluation_key_mib"] = round(len(fhe_circuit.keys.evaluation.serialize()) / 2 ** 20, 1)


def rounds(sides, counts: tuple[int, ...]) -> None:
    """One encrypted image per side per round (`_harness.encrypted_in_turns`), counts[i]
    images for side i; first image apart, median of the others. Both sides encrypt the same
    test digits, each in its own circuit input form."""
    figures = encrypted_in_turns(
        {row["model"]: ((lambda xb, m=model, p=predict: p(m, xb)), x, simulated)
         for row, model, x, simulated, predict in sides},
        {side[0]["model"]: n for side, n in zip(sides, counts)},
        log=lambda line: print(line, flush=True))
    for row, *_ in sides:
        row.update(figures[row["model"]])


def main() -> None:
    from polyzoo.train import data

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entry", default=DEFAULT_ENTRY, help="the zoo entry to compare")
    ap.add_argument("--epochs", type=int, default=10, help="the peer's skorch epochs")
    ap.add_argument("--n-sim", type=int, default=2000, help="test digits to simulate")
    ap.add_argument("--peer-n-sim", type=int, default=None,
                    help="test digits to simulate for the peer (default: --n-sim; its "
                         "simulation takes about 0.5 s a digit here)")
    ap.add_argument("--n-encrypted", type=int, default=6, help="encrypted images per model")
    ap.add_argument("--peer-n-encrypted", type=int, default=None,
                    help="encrypted images for the peer (default: --n-encrypted; it takes "
                         "about 15 min an image here, so 3 keeps the run near an hour)")
    args = ap.parse_args()
    ds = data.load("mnist")
    ours = (*polyzoo_side(args.entry, args.n_sim),
            lambda m, x: m.forward(x, fhe="execute"))
    print({k: v for k, v in ours[0].items()}, flush=True)
    peer = (*peer_side(ds, args.epochs, args.peer_n_sim or args.n_sim),
            lambda m, x: m.predict_proba(x, fhe="execute"))
    print(peer[0], flush=True)
    keygen(ours[0], ours[1].fhe_circuit)
    keygen(peer[0], peer[1].fhe_circuit)
    if args.n_encrypted:
        peer_n = args.n_encrypted if args.peer_n_encrypted is None else args.peer_n_encrypted
        rounds([ours, peer], (args.n_encrypted, peer_n))
    a, b = ours[0], peer[0]
    ratio = {k: a[k] / b[k] for k in ("encrypted_s_per_image", "evaluation_key_mib",
                                       "compile_s", "pbs") if a.get(k) and b.get(k)}
    lead = a["simulated_accuracy"] - b["simulated_accuracy"]
    print(f"\n{a['model']}: simulated {100 * a['simulated_accuracy']:.2f}%, "
          f"{a.get('encrypted_s_per_image', '-')} s/image; peer: simulated "
          f"{100 * b['simulated_accuracy']:.2f}%, {b.get('encrypted_s_per_image', '-')} s/image")
    print(f"polyzoo - peer accuracy: {100 * lead:+.2f} points; polyzoo / peer: "
          + ", ".join(f"{k} {v:.2f}x" for k, v in ratio.items()))
    print(f"wrote {write('encrypted_peer', {'polyzoo': a, 'peer': b, 'ratio_polyzoo_over_peer': ratio, 'accuracy_lead_points': round(100 * lead, 2), 'settings': vars(args)})}")


if __name__ == "__main__":
    main()
