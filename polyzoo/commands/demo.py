"""`polyzoo demo`: the main job, end to end on encrypted data.

Loads the zoo's fastest and most accurate encrypted model, the micro ViT
`vit-micro-mnist-inhibitor-w24-q4-b5` (MNIST, 4 tokens, width 24, inhibitor attention 4
channels wide, 5-bit activations, accumulators rounded to 6 bits, patch embedding computed by
the client; recipe models/vit_micro_mnist_inhibitor_w24_q4_b5.py), compiles it to a TFHE
circuit, reports the circuit and its simulated accuracy beside the plaintext baseline of the
same split, generates keys, and runs a test image encrypted: the same steps as `polyzoo
export` followed by `polyzoo run-encrypted`.
"""
from __future__ import annotations

import argparse
import time

DEMO_MODEL = "vit-micro-mnist-inhibitor-w24-q4-b5"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo", help="export the micro ViT to TFHE and classify images encrypted",
        description=__doc__.split("\n\n")[1])
    p.add_argument("--model", default=DEMO_MODEL,
                   help=f"what to export (as `polyzoo export NAME`; default {DEMO_MODEL}; "
                        "vit-micro-mnist-inhibitor-w24-q4 (6-bit activations) and the wider "
                        "vit-micro-mnist-inhibitor and -w24 are slower; vit-micro-mnist-qat is "
                        "faster and behind the baseline)")
    p.add_argument("--n-test", type=int, default=200,
                   help="test images for the float and simulated accuracy (default 200; "
                        "docs/results/encrypted.md gives the simulation time)")
    p.add_argument("-n", "--n-encrypted", type=int, default=1,
                   help="test images to run encrypted (default 1; seconds per image: "
                        "docs/results/encrypted.md)")
    p.add_argument("--partition", default="precision",
                   help="as `polyzoo export --partition`: 'precision_and_norm2' makes each "
                        "encrypted image 14-30%% faster but the demo about 8 min longer")
    p.add_argument("--compress-keys", action="store_true",
                   help="as `polyzoo export --compress-keys`: smaller keys to send, a slower "
                        "first image")
    p.add_argument("--out", default=None,
                   help="new directory for the deployment (default out/demo-<time>)")
    p.set_defaults(func=run)


def run(args) -> int:
    from polyzoo.commands import run_encrypted
    from polyzoo.export import default_knobs, export_model, resolve

    if args.n_test < 1 or args.n_encrypted < 1:
        raise ValueError("--n-test and --n-encrypted must be at least 1")
    out = args.out or time.strftime("out/demo-%Y%m%d-%H%M%S")
    start = time.perf_counter()
    print(f"== 1/3 model: {args.model}")
    source = resolve(args.model)
    print(f"== 2/3 export: jaxpr -> ONNX opset 14 -> Concrete-ML circuit ({out})")
    knobs = default_knobs(source, partition=args.partition, compress_keys=args.compress_keys)
    report, out_dir = export_model(source, out, knobs, n_test=args.n_test, progress=True)
    print(report.summary())
    print(_against_baseline(args.model, report.simulated_accuracy, args.n_test))
    print(f"== 3/3 encrypted inference on {args.n_encrypted} test image(s)")
    run_encrypted.run(argparse.Namespace(dir=str(out_dir), n=args.n_encrypted, keys=None))
    print(f"demo finished in {time.perf_counter() - start:.0f} s")
    return 0


def _against_baseline(name: str, simulated: float, n_test: int) -> str:
    """The simulated circuit beside the entry's plaintext baseline (same split)."""
    from polyzoo.zoo.registry import read_manifest

    base = read_manifest()["entries"][name].get("baseline")
    if not base:
        return "baseline: none recorded for this entry (`polyzoo zoo eval NAME` computes it)"
    lead = 100 * (simulated - base["accuracy"])
    return (f"baseline (plaintext, same split): {base['name']} {100 * base['accuracy']:.2f}% "
            f"on the whole test split; this circuit simulated {100 * simulated:.2f}% on the "
            f"first {n_test}: {lead:+.2f} points"
            + ("" if lead > 0 else " (does NOT beat the baseline)"))
