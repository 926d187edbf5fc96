"""`polyzoo export NAME --out DIR`: compile a model to a TFHE circuit and report on it."""
from __future__ import annotations

import json


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export", help="compile a model to a Concrete-ML TFHE circuit, report, deploy",
        description="Translate NAME's JAX function to ONNX opset 14, compile it with "
                    "Concrete-ML, write client/ and server/ directories, model.onnx and "
                    "report.json under --out, and print the circuit report. NAME: a zoo entry, "
                    "e.g. 'vit-micro-mnist-qat' (the QAT micro ViT, `polyzoo train "
                    "vit_micro_mnist_qat`) or 'bert-micro-sentiment' (the client embeds the "
                    "text, the circuit runs the encoder).")
    p.add_argument("name")
    p.add_argument("--out", required=True, help="new directory for the deployment")
    p.add_argument("--n-bits", type=int, default=None,
                   help="weights/activations bits (default: the entry's QAT bits, else 6)")
    p.add_argument("--rounding", type=int, default=None,
                   help="accumulators rounded to this many bits before each table lookup "
                        "(QuantSpec.rounding_bits; default: the entry's QAT rounding, else 7)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--p-error", type=float, default=None,
                       help="error probability of one PBS (default 1e-5; larger is faster, "
                            "smaller makes encrypted logits bit-identical to the simulation)")
    group.add_argument("--global-p-error", type=float, default=None,
                       help="error probability of the whole circuit")
    p.add_argument("--partition", default="precision",
                   help="how Concrete groups lookups under shared crypto parameters: "
                        "'precision' (default) or 'precision_and_norm2'. The latter "
                        "ran the micro ViT 14-30%% faster per encrypted "
                        "image but compiles 15x slower (4 min, twice with simulation) and needs "
                        "6.8 instead of 3.9 GiB of evaluation keys")
    p.add_argument("--compress-keys", action="store_true",
                   help="send the evaluation keys compressed (seeded): 0.4 instead of 3.0 GiB "
                        "for the micro ViT, but the server expands them during its first "
                        "encrypted run (its first image: 65-70 s instead of 44-53)")
    p.add_argument("--n-test", type=int, default=None,
                   help="simulate only the first N test samples (default: the whole split)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from polyzoo.export import default_knobs, export_model, resolve

    source = resolve(args.name)
    knobs = default_knobs(source, n_bits=args.n_bits, rounding=args.rounding,
                          p_error=args.p_error, global_p_error=args.global_p_error,
                          partition=args.partition, compress_keys=args.compress_keys)
    log = (lambda *_: None) if args.json else print
    report, out = export_model(source, args.out, knobs, n_test=args.n_test,
                               progress=not args.json, log=log)
    if args.json:
        print(json.dumps({"name": source.name, "out": str(out), **report.to_json()}, indent=2))
    else:
        print(report.summary())
        print(f"wrote {out}/client (give to the data owner), {out}/server (no secret key), "
              f"{out}/report.json, {out}/model.onnx")
    return 0
