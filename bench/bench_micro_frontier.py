"""Encrypted micro ViTs on MNIST: accuracy against seconds per image, for every configuration.

Each configuration is a ViT (1 layer, 2 heads, MLP twice the width) with the spec of the zoo
entry vit-micro-mnist-qat (`micro.tfhe_spec`: ReLU MLP, BatchNorm) and one attention:
  dot        pointwise ReLU attention ReLU(q·kᵀ/√d)/L · v (Zimerman et al. ICML 2024)
  inhibitor  Σ_j ReLU(v_j − Σ_k |q_k − k_jk| / γ) (Brännvall & Stoian 2023, arXiv
             2310.02041), γ = the head width: no encrypted x encrypted product
and one split: 'server' encrypts the image (the circuit holds the patch embedding), 'client'
lets the client embed the patches in the clear (`micro.qat_stage(client_embeds=True)`, as
THE-X's client embeds tokens) and encrypts the embeddings. Tokens: 4 (patches of 14x14), 8
(14x7) or 16 (7x7). Optional suffixes: -r<BITS> rounds the accumulators before each table
lookup to BITS instead of the zoo's 7 (the QuantSpec's rounding_bits, trained through by
QAT): fewer bits, smaller lookups; -b<BITS> puts the activations on BITS-bit grids instead
of the zoo's 6 (the QuantSpec's bits: an encrypted sum or difference of two activations, as
in the inhibitor's q − k and v − Z, is one bit wider, and that width picks its lookup's
parameters); -a<PIXELS> trains the float stage on every image moved by up to PIXELS pixels
(`Stage.shift`); -s<CHANNELS> (client split only) puts a convolutional stem before the patch
embedding (`VitConfig.stem`: one 3x3 convolution to CHANNELS and a ReLU, Xiao et al. 2021),
computed by the client in the clear with the embedding: the circuit is unchanged, the client
computes (and learns the weights of) a small nonlinear feature map; -q<WIDTH> makes the
queries, keys and values that wide (all heads together; `attention_dim`) instead of the
model's width, -m<WIDTH> the MLP's hidden layer instead of twice the width: each inhibitor
score and value term is one lookup per attention channel, so -q narrows attention alone;
-k<THOUSANDS> runs that many thousand QAT steps instead of the recipe's 6.

For each, with the recipe of vit-micro-mnist-qat (float stage, then its QAT finish; both
budgets scaled by --steps-scale): float test accuracy before QAT, for a client split the
accuracy of a logistic regression on what the client sends (C chosen on validation: what the
client's part reaches with no circuit at all), the JAX emulation of the
circuit on the whole test split, the compiled circuit (PBS, widest integer, the compiler's
cost estimate, compile seconds), its simulated accuracy on the first --n-sim test digits,
and (--n-encrypted > 0) key generation and encrypted seconds per image: the first image
apart, the median of the others, each output compared with its simulation. The MLP baseline
(scikit-learn, one hidden layer of 256, bench_baselines' setting) is trained in the same run on
the same split. Results are written after every configuration (bench/results/
micro_frontier.json); --resume keeps those already measured at the same --steps-scale (each
row records its own number of simulated digits and encrypted runs).

    .venv/bin/python bench/bench_micro_frontier.py [--configs t4-w8-dot-server ...]
        [--steps-scale 1] [--n-sim 2000] [--n-encrypted 6] [--resume [--rerun NAME ...]]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time

import numpy as np

from _harness import RESULTS, encrypted_in_turns, write

NAME = "micro_frontier"
DEFAULT_ROUNDING = 7  # micro.DEFAULT_QUANT's, the zoo entries' (not imported: keeps --help fast)
DEFAULT_BITS = 6      # micro.DEFAULT_QUANT.bits, likewise
PATCH = {4: "14", 8: "14x7", 16: "7"}  # tokens -> patch (rows x columns) on 28x28 digits
DEFAULT_CONFIGS = ("t4-w8-dot-server", "t4-w8-inhibitor-server", "t4-w8-dot-client",
                   "t4-w8-inhibitor-client", "t4-w16-dot-client", "t4-w16-inhibitor-client",
                   "t4-w32-dot-client", "t4-w32-inhibitor-client", "t16-w8-dot-client",
                   "t16-w8-inhibitor-client", "t16-w16-inhibitor-client")


@dataclasses.dataclass(frozen=True)
class Config:
    tokens: int
    width: int
    attention: str  # 'dot' | 'inhibitor'
    split: str      # 'server' | 'client'
    rounding: int = DEFAULT_ROUNDING
    shift: int = 0  # float-stage augmentation (pixels)
    bits: int = DEFAULT_BITS  # activation grids
    stem: int = 0   # channels of the client's convolutional stem (VitConfig.stem); 0: none
    qkv: int = 0    # width of queries, keys and values (VitConfig.attention_dim); 0: width
    mlp: int = 0    # MLP hidden width; 0: twice the width
    qat_steps: int = 0  # thousands of QAT steps; 0: the recipe's

    @classmethod
    def parse(cls, name: str) -> "Config":
        try:
            t, w, attention, split, *suffixes = name.split("-")
            options = {s[0]: int(s[1:]) for s in suffixes}
            if set(options) - set("rabsqmk") or len(options) != len(suffixes):
                raise ValueError(name)
            config = cls(int(t.removeprefix("t")), int(w.removeprefix("w")), attention, split,
                         options.get("r", DEFAULT_ROUNDING), options.get("a", 0),
                         options.get("b", DEFAULT_BITS), options.get("s", 0),
                         options.get("q", 0), options.get("m", 0), options.get("k", 0))
        except (ValueError, IndexError):
            raise SystemExit(f"configuration {name!r}: write t<TOKENS>-w<WIDTH>-<dot|inhibitor>"
                             "-<server|client>[-r<BITS>][-b<BITS>][-s<CHANNELS>][-q<WIDTH>]"
                             "[-m<WIDTH>][-k<THOUSANDS>][-a<PIXELS>], "
                             "e.g. t4-w16-inhibitor-client-r6-a1") from None
        if (config.tokens not in PATCH or config.attention not in ("dot", "inhibitor")
                or config.split not in ("server", "client") or config.width % 2
                or not 2 <= config.rounding <= 16 or not 0 <= config.shift <= 4
                or not 2 <= config.bits <= 8 or not 0 <= config.stem <= 64
                or (config.stem and config.split != "client")
                or config.qkv < 0 or config.qkv % 2 or config.mlp < 0
                or config.qat_steps < 0):
            raise SystemExit(f"configuration {name!r}: tokens {sorted(PATCH)}, an even width, "
                             "attention dot or inhibitor, split server or client, rounding "
                             "2 to 16 bits, activations 2 to 8 bits, a stem of 1 to 64 "
                             "channels (client split only), an even attention width, a "
                             "positive MLP width, shift 0 to 4 pixels")
        return config

    @property
    def name(self) -> str:
        name = f"t{self.tokens}-w{self.width}-{self.attention}-{self.split}"
        if self.rounding != DEFAULT_ROUNDING:
            name += f"-r{self.rounding}"
        if self.bits != DEFAULT_BITS:
            name += f"-b{self.bits}"
        if self.stem:
            name += f"-s{self.stem}"
        if self.qkv:
            name += f"-q{self.qkv}"
        if self.mlp:
            name += f"-m{self.mlp}"
        if self.qat_steps:
            name += f"-k{self.qat_steps}"
        return name + (f"-a{self.shift}" if self.shift else "")

    def site(self):
        from polyzoo.nn import Site

        if self.attention == "dot":
            return Site("pointwise", fn="relu")
        return Site("inhibitor", param=float((self.qkv or self.width) // 2))  # γ = head width

    def recipe(self):
        from polyzoo.export import micro
        from polyzoo.recipes import vit_micro_mnist_qat

        parent = vit_micro_mnist_qat.RECIPE
        (float_stage,) = parent.stages
        stage = dataclasses.replace(float_stage, spec=micro.tfhe_spec(self.site()),
                                    shift=self.shift)
        return dataclasses.replace(
            parent, name=f"bench-frontier-{self.name}", stages=(stage,),
            model=f"vit-micro/{PATCH[self.tokens]}",
            overrides={**parent.overrides, "hidden": self.width,
                       "mlp_dim": self.mlp or 2 * self.width,
                       **({"stem": self.stem} if self.stem else {}),
                       **({"attention_dim": self.qkv} if self.qkv else {})},
            finish_args={**parent.finish_args, "client_embeds": self.split == "client",
                         **({"steps": 1000 * self.qat_steps} if self.qat_steps else {}),
                         "quant": dataclasses.replace(parent.finish_args["quant"],
                                                      rounding_bits=self.rounding,
                                                      bits=self.bits)})


def batched(fn, x: np.ndarray, chunk: int = 500) -> np.ndarray:
    return np.concatenate([np.asarray(fn(x[i:i + chunk])) for i in range(0, len(x), chunk)])


def measure(config: Config, ds, inputs, *, steps_scale: float, n_sim: int, n_encrypted: int,
            runs: str, encrypt_below: float | None = None) -> dict:
    """Train, QAT-finetune, compile, simulate and (n_encrypted) run one configuration; with
    `encrypt_below`, only a circuit whose compiler cost estimate is below it runs encrypted."""
    import jax

    from polyzoo.export import (Knobs, QuantSpec, check_onnx, circuit_report, compile_onnx,
                                micro, simulate_batched, to_onnx)
    from polyzoo.zoo import training

    rec = config.recipe()
    train_in, val_in, test_in = inputs
    x_test, y_test = test_in[0], ds.test.labels
    t0 = time.perf_counter()
    model, variables, _, _, _ = training.run_stage(
        rec, rec.stages[0], ds, train_in, val_in, None, {}, None, steps_scale=steps_scale,
        runs=runs, progress=False)
    float_seconds = time.perf_counter() - t0
    float_acc = training.evaluate(model, variables, test_in, y_test)["accuracy"]
    t0 = time.perf_counter()
    folded, qvars, extra = micro.qat_stage(model, variables, ds, train_in, seed=rec.seed,
                                           steps_scale=steps_scale, log=lambda _: None,
                                           **rec.finish_args)
    qat_seconds = time.perf_counter() - t0
    record = extra["qat"]
    client = (jax.jit(lambda xb: folded.apply(qvars, xb, method=record["client"]))
              if record["client"] else (lambda xb: xb))
    circuit_x = batched(client, x_test)  # what the client encrypts
    train_x = batched(client, np.asarray(train_in[0], np.float32))
    client_alone = None
    if record["client"]:  # how far a linear head gets on what the client sends, no circuit
        from polyzoo.train import baselines

        val_x = batched(client, np.asarray(val_in[0], np.float32))
        client_alone = baselines.linear_on((train_x, val_x, circuit_x), ds,
                                           "the client's embeddings")
    emulated = batched(jax.jit(micro.emulated_function(folded, qvars, record)), circuit_x)
    export_fn = micro.export_function(folded, qvars, record)
    calibration = train_x[:record["calibration"]]
    graph = to_onnx(export_fn, calibration[:1])
    onnx_gap = check_onnx(graph, export_fn, circuit_x[:16])
    knobs = Knobs(quant=QuantSpec.from_record(record), p_error=micro.DEFAULT_P_ERROR)
    circuit = compile_onnx(graph, calibration, knobs)
    report = circuit_report(circuit)
    xs, ys = circuit_x[:n_sim], y_test[:n_sim]
    t0 = time.perf_counter()
    simulated = simulate_batched(circuit, xs)
    sim_seconds = time.perf_counter() - t0
    attn = {k: v for k, v in report.pbs_per_layer.items() if "/attn" in k}
    row = {
        "config": dataclasses.asdict(config), "model": rec.model, "overrides": rec.overrides,
        "client_embeds": bool(record["client"]), "attention_site": config.site().to_dict(),
        "float_seconds": round(float_seconds, 1), "qat_seconds": round(qat_seconds, 1),
        "float_test_accuracy": float_acc,
        "client_alone_accuracy": None if client_alone is None else client_alone.accuracy,
        "qat_emulated_val_accuracy": record["fake_quant_val_accuracy"],
        "emulated_test_accuracy": float(np.mean(np.argmax(emulated, -1) == y_test)),
        "n_test": int(len(y_test)),
        "simulated_accuracy": float(np.mean(np.argmax(simulated, -1) == ys)),
        "n_sim": int(len(ys)), "simulate_seconds": round(sim_seconds, 1),
        "simulated_vs_emulated_agree": float(np.mean(
            np.argmax(simulated, -1) == np.argmax(emulated[:len(ys)], -1))),
        "onnx_vs_jax_max_gap": float(onnx_gap),
        "pbs": report.pbs, "max_bit_width": report.max_bit_width,
        "attention_layers_pbs": sum(attn.values()), "pbs_per_layer": report.pbs_per_layer,
        "bit_width_per_layer": report.bit_width_per_layer,
        "pbs_per_polynomial_size": {str(k): v for k, v in
                                    sorted(report.pbs_per_polynomial_size.items())},
        "complexity": report.cost_estimate,
        "compile_seconds": round(report.compile_seconds, 1), "knobs": report.knobs,
    }
    if n_encrypted and (encrypt_below is None or row["complexity"] < encrypt_below):
        row.update(encrypted(circuit, xs, simulated, n_encrypted))
    return row


def measure_missing(configs, results: dict, ds, inputs, args, redo=frozenset()):
    """Measure each configuration not yet in `results`, or named in `redo` (its old row stays
    until the new one replaces it), with the command line's budgets (args.steps_scale, n_sim,
    n_encrypted), from fresh training; add its row (with its wall time and steps_scale) to
    `results` and yield (name, row)."""
    with tempfile.TemporaryDirectory() as runs:  # fresh training: no run cache
        for config in configs:
            if config.name in results and config.name not in redo:
                continue
            t0 = time.perf_counter()
            row = measure(config, ds, inputs, steps_scale=args.steps_scale, n_sim=args.n_sim,
                          n_encrypted=args.n_encrypted, runs=runs,
                          encrypt_below=getattr(args, "encrypt_below", None))
            row.update(seconds=round(time.perf_counter() - t0, 1),
                       steps_scale=args.steps_scale)
            results[config.name] = row
            yield config.name, row


def mnist_inputs():
    """(MNIST, its (train, val, test) model inputs as the micro ViT recipes read them)."""
    from polyzoo.recipes import vit_micro_mnist_qat
    from polyzoo.train import data
    from polyzoo.zoo import training

    ds = data.load("mnist")
    return ds, tuple(training.inputs_of(vit_micro_mnist_qat.RECIPE, ds, s)
                     for s in ("train", "val", "test"))


def encrypted(circuit, xs, simulated, n: int) -> dict:
    """Key generation, then n images one after another: the first apart (it loads the keys),
    the median of the others; each output compared with its simulation. The host's load
    average before key generation is recorded: timings taken beside other work run slower."""
    load = round(os.getloadavg()[0], 2)
    keygen = circuit.keygen()
    (figures,) = encrypted_in_turns(
        {"circuit": (lambda xb: circuit.predict(xb, fhe="execute"), xs, simulated)}, n,
        log=lambda line: print(line, flush=True)).values()
    return {"load_average_1min": load, "keygen_seconds": round(keygen, 1), **figures}


def mlp_baseline(ds) -> dict:
    """The strongest image baseline of bench_baselines (logistic regression or the 256-unit
    MLP, chosen on validation), refitted in this run on the same split."""
    from polyzoo.train import baselines

    best = baselines.pick(baselines.baselines(ds, cache=False))
    return {"baseline": best.name, "baseline_accuracy": best.accuracy,
            "description": best.description, "seconds": round(best.seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS),
                        help="t<TOKENS>-w<WIDTH>-<dot|inhibitor>-<server|client>")
    parser.add_argument("--steps-scale", type=float, default=1.0,
                        help="scale both training budgets (float stage and QAT)")
    parser.add_argument("--n-sim", type=int, default=2000,
                        help="test digits to simulate (default: the whole split)")
    parser.add_argument("--n-encrypted", type=int, default=6,
                        help="encrypted images per configuration (0: none)")
    parser.add_argument("--resume", action="store_true",
                        help="keep configurations already in the record with these settings")
    parser.add_argument("--rerun", nargs="+", default=[], metavar="NAME",
                        help="with --resume: measure these configurations again (e.g. with "
                             "more encrypted images), keeping the others")
    args = parser.parse_args()
    configs = [Config.parse(c) for c in args.configs]
    if args.rerun and not args.resume:
        raise SystemExit("--rerun keeps the other rows of the record: use it with --resume")
    rerun = [Config.parse(c) for c in args.rerun]
    configs += [c for c in rerun if c not in configs]
    settings = {"steps_scale": args.steps_scale, "n_sim": args.n_sim,
                "n_encrypted": args.n_encrypted}
    path = RESULTS / f"{NAME}.json"
    old = json.loads(path.read_text()) if args.resume and path.exists() else {}
    # rows keep their own sample counts (n_sim, encrypted_runs_s): a resumed record may mix
    again = {c.name for c in rerun}
    results = {k: v for k, v in old.get("results", {}).items()
               if v.get("steps_scale", 1.0) == args.steps_scale}

    ds, inputs = mnist_inputs()
    baseline = old.get("baseline") if results else None
    if baseline is None:
        baseline = mlp_baseline(ds)
    print(f"baseline {baseline['baseline']}: {100 * baseline['baseline_accuracy']:.2f}%",
          flush=True)
    for name, row in measure_missing(configs, results, ds, inputs, args, again):
        secs = row.get("encrypted_s_per_image")
        print(f"{name:<26} float {100 * row['float_test_accuracy']:.2f}%  emulated "
              f"{100 * row['emulated_test_accuracy']:.2f}%  simulated "
              f"{100 * row['simulated_accuracy']:.2f}% (n={row['n_sim']})  PBS "
              f"{row['pbs']}  max bits {row['max_bit_width']}  "
              f"{'' if secs is None else f'{secs:.1f} s/image  '}"
              f"({row['seconds']:.0f} s)", flush=True)
        write(NAME, {"settings": settings, "dataset": "mnist", "baseline": baseline,
                     "results": results})
    for name, row in sorted(results.items()):  # the same model with either attention
        if row["config"]["attention"] != "dot" or name.replace("-dot-", "-inhibitor-") not in results:
            continue
        inh = results[name.replace("-dot-", "-inhibitor-")]
        ratios = {k: inh[k] / row[k] for k in ("pbs", "attention_layers_pbs", "complexity",
                                                "encrypted_s_per_image") if row.get(k)}
        print(f"inhibitor / dot, {name.replace('-dot', '')}: "
              + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items())
              + f"; simulated accuracy {100 * (inh['simulated_accuracy'] - row['simulated_accuracy']):+.2f} points")
    best = max(results.values(), key=lambda r: r["simulated_accuracy"])
    lead = best["simulated_accuracy"] - baseline["baseline_accuracy"]
    print(f"\nmost accurate: {best['config']} simulated {100 * best['simulated_accuracy']:.2f}% "
          f"({100 * lead:+.2f} points against the {baseline['baseline']} baseline)")
    print(f"wrote {write(NAME, {'settings': settings, 'dataset': 'mnist', 'baseline': baseline, 'results': results})}")


if __name__ == "__main__":
    main()
