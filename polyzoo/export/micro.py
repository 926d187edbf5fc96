"""The FHE-sized micro ViT on MNIST, end to end: float training, BatchNorm folding,
quantisation-aware fine-tuning at the export bit-width (about a minute on 2 cores).

    python -m polyzoo.export.micro --out data/export/vit-micro-mnist.msgpack   # 6 bits, r 8

Stages (all on the MNIST train split of polyzoo.train.data.load_mnist):
  1. float training, spec `tfhe_spec()` (ReLU, pointwise ReLU attention, BatchNorm) or any
     spec with polynomial sites (then range-aware: exact functions + range loss, Zimerman et
     al. ICML 2024);
  2. (polynomial specs only) calibration of every interval, fine-tuning with the polynomials;
  3. BatchNorm folded into the next linear layers (no division left);
  4. QAT: fine-tuning through `qat.quantized` (Concrete-ML's n-bit grids, straight-through).
The result is the params pytree of the folded model; `load` rebuilds (model, variables).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from polyzoo.export import qat

MODEL = "vit-micro"
DEFAULT_BITS, DEFAULT_ROUNDING = 6, 8  # measured: see the README's export section


def tfhe_spec():
    """ReLU MLP, ReLU pointwise attention scaled by 1/L (Zimerman et al. ICML 2024), BatchNorm
    folded at inference. Under TFHE any univariate function is one exact table lookup, so the
    exact ReLU costs what a polynomial would, and cannot leave an interval and explode."""
    from polyzoo.nn import ApproxSpec, Site

    return ApproxSpec(act=Site("relu"), softmax=Site("pointwise", fn="relu"),
                      norm=Site("batchnorm"), name="tfhe-relu")


def _train(model, variables, x, y, *, steps, lr, reference, range_weight, seed=0, batch=128):
    """Float training with the training engineer's loop (BatchNorm stats, range loss)."""
    from polyzoo import models
    from polyzoo.train import loop

    model = model.clone(reference=reference)
    tx = loop.optimizer(lr, steps, warmup=min(100, steps // 10), weight_decay=1e-4)
    objective = loop.Objective(range_weight=range_weight, range_loss=models.range_loss)
    state = loop.init_state(variables, tx, seed=seed)
    state, _ = loop.fit(model, state, tx, (x,), y, loop.LoopConfig(steps=steps, batch_size=batch,
                                                                  seed=seed),
                        objective, progress=False)
    return jax.tree.map(np.asarray, loop.variables_of(state))


def accuracy(fn, x, y, batch: int = 1000) -> float:
    preds = np.concatenate([np.argmax(np.asarray(fn(x[i:i + batch])), -1)
                            for i in range(0, len(x), batch)])
    return float(np.mean(preds == y))


def qat_finetune(fn, params, x, y, *, n_bits, steps, lr=1e-3, batch=128, seed=0,
                 recalibrate_every=250, calibration=2048, rounding_bits=None):
    """Fine-tune params of fn(params, x) -> logits through Concrete-ML's fake quantisers, on
    activation grids calibrated like Concrete-ML's (min/max over a calibration set),
    re-measured every `recalibrate_every` steps. Returns (params, quantised fn of params, x)."""
    xc = jnp.asarray(x[:calibration])
    tx = optax.adam(optax.cosine_decay_schedule(lr, steps))
    opt = tx.init(params)

    @jax.jit
    def step(params, opt, ranges, xb, yb):  # ranges traced: recalibration does not recompile
        def loss(p):
            logits = qat.quantized(fn, n_bits, ranges=ranges, rounding_bits=rounding_bits)(p, xb)
            return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()
        value, grads = jax.value_and_grad(loss)(params)
        with jax.numpy_dtype_promotion("standard"):
            updates, opt = tx.update(grads, opt, params)
        return optax.apply_updates(params, updates), opt, value

    rng = np.random.default_rng(seed)
    for i in range(steps):
        if i % recalibrate_every == 0:
            ranges = jnp.asarray(qat.activation_ranges(fn, params, xc, n_bits=n_bits,
                                                       rounding_bits=rounding_bits), jnp.float32)
        idx = rng.choice(len(x), batch, replace=False)
        params, opt, _ = step(params, opt, ranges, jnp.asarray(x[idx]),
                              jnp.asarray(y[idx], jnp.int32))
    ranges = qat.activation_ranges(fn, params, xc, n_bits=n_bits, rounding_bits=rounding_bits)
    final = qat.quantized(fn, n_bits, ranges=ranges, rounding_bits=rounding_bits)
    return jax.tree.map(np.asarray, params), final


def build(n_bits: int = DEFAULT_BITS, *, spec=None, float_steps: int = 3000,
          poly_steps: int = 500, qat_steps: int = 1500, qat_lr: float = 3e-4,
          rounding_bits: int | None = DEFAULT_ROUNDING,
          seed: int = 0, log=print):
    """Run the four stages; returns (model, variables, metrics)."""
    from polyzoo import models
    from polyzoo.train.data import load_mnist

    ds = load_mnist()
    x, y = ds.train.inputs, ds.train.labels
    model = models.create(MODEL, spec=spec or tfhe_spec(), num_classes=10)
    variables = jax.tree.map(np.asarray, model.init(jax.random.key(seed), x[:2]))
    polys = bool(models.model_polys(model))
    t0 = time.perf_counter()
    variables = _train(model, variables, x, y, steps=float_steps, lr=3e-3, reference=polys,
                       range_weight=0.1 if polys else 0.0, seed=seed)
    if polys:
        variables = models.calibrate(model, variables, [x[:2048]], margin=0.1)
        variables = _train(model, variables, x, y, steps=poly_steps, lr=5e-4, reference=False,
                           range_weight=0.1, seed=seed + 1)
    folded, fvars = models.fold_batchnorms(model, variables)
    rest = {k: v for k, v in fvars.items() if k != "params"}
    fn = lambda p, xb: folded.apply({"params": p, **rest}, xb)  # noqa: E731
    float_acc = accuracy(lambda xb: fn(fvars["params"], xb), ds.val.inputs, ds.val.labels)
    log(f"float (folded) val accuracy {float_acc:.4f} after {time.perf_counter() - t0:.0f} s")
    ptq_fn = qat.quantized(fn, n_bits, rounding_bits=rounding_bits, ranges=qat.activation_ranges(
        fn, fvars["params"], jnp.asarray(x[:2048]), n_bits=n_bits, rounding_bits=rounding_bits))
    log(f"fake-quant {n_bits}-bit val accuracy before QAT "
        f"{accuracy(lambda xb: ptq_fn(fvars['params'], xb), ds.val.inputs, ds.val.labels):.4f}")
    params, qfn = qat_finetune(fn, fvars["params"], x, y, n_bits=n_bits, steps=qat_steps,
                               lr=qat_lr, rounding_bits=rounding_bits, seed=seed)
    metrics = {
        "float_val_accuracy_before_qat": float_acc,
        "qat_fake_quant_val_accuracy": accuracy(lambda xb: qfn(params, xb), ds.val.inputs,
                                                ds.val.labels),
        "float_val_accuracy_after_qat": accuracy(lambda xb: fn(params, xb), ds.val.inputs,
                                                 ds.val.labels),
        "n_bits": n_bits, "rounding_bits": rounding_bits,
        "train_seconds": round(time.perf_counter() - t0, 1),
    }
    log(json.dumps(metrics))
    return folded, {"params": params, **rest}, {"float_params": fvars["params"], **metrics}


def save(path: str | Path, variables: dict, float_params: dict, metrics: dict) -> None:
    """msgpack (flax.serialization), no pickle: QAT variables, the pre-QAT float params."""
    from flax import serialization

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {"variables": variables, "float_params": float_params}
    path.write_bytes(serialization.msgpack_serialize(jax.tree.map(np.asarray, blob)))
    path.with_suffix(".json").write_text(json.dumps(metrics, indent=2))


def load(path: str | Path):
    """(folded model, QAT variables, float params, metrics) saved by `save`."""
    from flax import serialization

    from polyzoo import models

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: build it with "
                                f"`python -m polyzoo.export.micro --out {path}`")
    blob = serialization.msgpack_restore(path.read_bytes())
    model = models.create(MODEL, spec=tfhe_spec(), num_classes=10)
    x = np.zeros((1, 28, 28, 1), np.float32)
    folded, _ = models.fold_batchnorms(model, model.init(jax.random.key(0), x))
    metrics = json.loads(path.with_suffix(".json").read_text())
    return folded, blob["variables"], blob["float_params"], metrics


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-bits", type=int, default=DEFAULT_BITS)
    parser.add_argument("--float-steps", type=int, default=3000)
    parser.add_argument("--poly-steps", type=int, default=500)
    parser.add_argument("--qat-steps", type=int, default=1500)
    parser.add_argument("--qat-lr", type=float, default=3e-4)
    parser.add_argument("--rounding", type=int, default=DEFAULT_ROUNDING,
                        help="model Concrete-ML's rounding_threshold_bits in QAT")
    parser.add_argument("--out", default="data/export/vit-micro-mnist.msgpack")
    args = parser.parse_args(argv)
    _, variables, extra = build(args.n_bits, float_steps=args.float_steps,
                                poly_steps=args.poly_steps, qat_steps=args.qat_steps,
                                qat_lr=args.qat_lr, rounding_bits=args.rounding)
    float_params = extra.pop("float_params")
    save(args.out, variables, float_params, extra)
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
