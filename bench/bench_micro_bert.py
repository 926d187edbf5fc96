"""Encrypted micro BERTs on sentiment: dot-product against inhibitor attention, beside the bag
of words, in one run.

    .venv/bin/python bench/bench_micro_bert.py [--entries NAME ...] [--encrypt NAME ...]
                                               [--n-sim 1309] [--n-encrypted 6]

Each zoo entry is exported as `polyzoo export NAME` exports it (the client tokenises and
embeds in the clear, the circuit runs the encoder and head; Concrete-ML's post-training
grids at 6 bits, accumulators rounded to 7, p_error 1e-5) and measured: PBS per sentence
(in the attention layers apart), the widest integer, compile seconds, float and simulated
accuracy on the first --n-sim test snippets (default: all 1,309), and, for the entries named
by --encrypt, key generation and encrypted seconds per sentence (the first apart, the median
of the others; the entries take turns, one sentence each per round), every encrypted output
compared with its simulation. The default encrypts the two -q4-b5 entries, which differ only
in where the client stops (after the words, or after the chunk projection too): the
dot-product entry takes about half an hour per sentence, the first inhibitor entry 5-7 min.

Baselines refitted in the same run on the same split: TF-IDF + logistic regression (C
chosen on validation, plaintext) and the majority class. Writes bench/results/micro_bert.json.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from _harness import checkpoint_digest, encrypted_in_turns, write

NAME = "micro_bert"
ENTRIES = ("bert-micro-sentiment", "bert-micro-sentiment-inhibitor",
           "bert-micro-sentiment-inhibitor-q4-b5",
           "bert-micro-sentiment-inhibitor-q4-b5-client-proj")
ENCRYPT = ENTRIES[2:]


def measure(name: str, n_sim: int | None) -> tuple[dict, object, np.ndarray, np.ndarray]:
    """Compile and simulate one entry: (row, circuit, circuit inputs, simulated outputs)."""
    from polyzoo import zoo
    from polyzoo.export import (check_onnx, circuit_report, compile_onnx, default_knobs,
                                resolve, simulate_batched, to_onnx)

    source = resolve(name)
    entry = zoo.load(name)
    target = source.export_fn or source.fn  # a QAT entry: with its trained quantisers
    graph = to_onnx(target, source.calibration[:1])
    onnx_gap = check_onnx(graph, target, source.test_x[:16])
    knobs = default_knobs(source)
    circuit = compile_onnx(graph, source.calibration, knobs)
    report = circuit_report(circuit)
    xs, ys = source.test_x[:n_sim], source.test_y[:n_sim]
    float_pred = np.argmax(np.asarray(source.fn(xs)), -1)
    t0 = time.perf_counter()
    simulated = simulate_batched(circuit, xs)
    sim_seconds = time.perf_counter() - t0
    attn = {k: v for k, v in report.pbs_per_layer.items() if "/attn" in k}
    c = entry.model.config
    row = {
        "checkpoint": checkpoint_digest(zoo.entry_meta(name)),
        "attention": entry.model.spec.site("layer_0/attn/softmax").to_dict(),
        "tokens": int(xs.shape[1]), "words": int(entry.meta["max_len"]), "width": c.hidden,
        "encrypted_numbers_per_sentence": int(np.prod(xs.shape[1:])),
        "zoo_test_accuracy": entry.meta["metrics"]["accuracy"],
        "float_accuracy": float(np.mean(float_pred == ys)),
        "simulated_accuracy": float(np.mean(np.argmax(simulated, -1) == ys)),
        "n_sim": int(len(ys)), "simulate_seconds": round(sim_seconds, 1),
        "onnx_vs_jax_max_gap": float(onnx_gap),
        "pbs": report.pbs, "attention_layers_pbs": sum(attn.values()),
        "max_bit_width": report.max_bit_width, "pbs_per_layer": report.pbs_per_layer,
        "pbs_per_polynomial_size": {str(k): v for k, v in
                                    sorted(report.pbs_per_polynomial_size.items())},
        "compile_seconds": round(report.compile_seconds, 1), "knobs": report.knobs,
        "compiler_complexity": report.cost_estimate,
        "p_error": report.p_error, "sample_error_bound": report.sample_error_bound,
    }
    return row, circuit, xs, simulated


def baselines_row(ds) -> dict:
    from polyzoo.train import baselines

    (tfidf,) = baselines.text_baselines(ds)
    majority = float(np.max(np.bincount(ds.test.labels)) / len(ds.test.labels))
    return {"tfidf": tfidf.to_dict(), "majority_class_accuracy": majority}


def main() -> None:
    from polyzoo.train import data

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", nargs="+", default=list(ENTRIES))
    parser.add_argument("--encrypt", nargs="*", default=list(ENCRYPT),
                        help="entries to run encrypted (none: compile and simulate only)")
    parser.add_argument("--n-sim", type=int, default=None,
                        help="test snippets to simulate (default: the whole split)")
    parser.add_argument("--n-encrypted", type=int, default=6,
                        help="encrypted sentences per entry in --encrypt")
    args = parser.parse_args()
    unknown = sorted(set(args.encrypt) - set(args.entries))
    if unknown:
        parser.error(f"--encrypt names entries not in --entries: {', '.join(unknown)}")

    ds = data.load("sentiment")
    base = baselines_row(ds)
    print(f"TF-IDF + logistic regression {100 * base['tfidf']['accuracy']:.2f}%, majority class "
          f"{100 * base['majority_class_accuracy']:.2f}%", flush=True)
    results, runs = {}, {}
    for name in args.entries:
        row, circuit, xs, simulated = measure(name, args.n_sim)
        results[name] = row
        print(f"{name:<32} float {100 * row['float_accuracy']:.2f}%  simulated "
              f"{100 * row['simulated_accuracy']:.2f}% (n={row['n_sim']})  PBS {row['pbs']} "
              f"(attention {row['attention_layers_pbs']})  max bits {row['max_bit_width']}",
              flush=True)
        if name in args.encrypt and args.n_encrypted:
            t0 = time.perf_counter()
            circuit.keygen()
            row["keygen_seconds"] = round(time.perf_counter() - t0, 1)
            runs[name] = (lambda xb, c=circuit: c.predict(xb, fhe="execute"), xs, simulated)
    settings = {"n_sim": args.n_sim, "n_encrypted": args.n_encrypted, "encrypt": args.encrypt}
    write(NAME, {"settings": settings, "dataset": "sentiment", "baselines": base,
                 "results": results})
    if runs:
        timed = encrypted_in_turns(runs, args.n_encrypted,
                                   log=lambda line: print(line, flush=True))
        for name, figures in timed.items():
            results[name].update(figures)
            print(f"{name}: {figures['encrypted_s_per_image']:.1f} s per sentence (median of "
                  f"{len(figures['encrypted_runs_s']) - 1} after the first); encrypted logits "
                  f"equal to the simulation on {figures['encrypted_equal_outputs']}, same "
                  f"prediction on {figures['encrypted_same_predictions']} (some PBS errs with "
                  f"probability at most {results[name]['sample_error_bound']:.2g} per sentence, "
                  "in either run)", flush=True)
    dot, inh = (results.get(n) for n in ENTRIES[:2])
    if dot and inh:
        print(f"inhibitor / dot-product: PBS {inh['pbs'] / dot['pbs']:.2f}x, attention PBS "
              f"{inh['attention_layers_pbs'] / dot['attention_layers_pbs']:.2f}x, simulated "
              f"accuracy {100 * (inh['simulated_accuracy'] - dot['simulated_accuracy']):+.2f} "
              "points")
    words, proj = (results.get(n) for n in ENTRIES[2:])
    if words and proj and "encrypted_s_per_image" in words and "encrypted_s_per_image" in proj:
        print(f"chunk projection on the client / in the circuit: seconds "
              f"{proj['encrypted_s_per_image'] / words['encrypted_s_per_image']:.2f}x, PBS "
              f"{proj['pbs'] / words['pbs']:.2f}x, simulated accuracy "
              f"{100 * (proj['simulated_accuracy'] - words['simulated_accuracy']):+.2f} points")
    for name, row in results.items():
        lead = row["simulated_accuracy"] - base["tfidf"]["accuracy"]
        print(f"{name}: {100 * lead:+.2f} points against the bag of words"
              + ("" if lead > 0 else " (does NOT beat it)"))
    print(f"wrote {write(NAME, {'settings': settings, 'dataset': 'sentiment', 'baselines': base, 'results': results})}")


if __name__ == "__main__":
    main()
