"""The FHE-sized micro ViT on MNIST: its spec, and the QAT stage of its zoo recipe.

The zoo entry 'vit-micro-mnist-qat' (recipe models/vit_micro_mnist_qat.py, `polyzoo train
vit_micro_mnist_qat`) trains `vit-micro` with `tfhe_spec()` in float, then its `finish` step is
`qat_stage`: BatchNorm folded into the next linear layers (no division left), then
quantisation-aware fine-tuning through `qat.quantized` (Concrete-ML's n-bit grids, straight-
through) at the export bit-width. The stored network is the folded float function that
Concrete-ML quantises at export (`polyzoo export vit-micro-mnist-qat`).
"""
from __future__ import annotations

import json
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from polyzoo.export import qat

MODEL = "vit-micro"
DEFAULT_BITS, DEFAULT_ROUNDING = 6, 8  # measured: see the README's export section
DEFAULT_P_ERROR = 0.05  # per-PBS error probability: larger is faster (README, export)


def tfhe_spec():
    """ReLU MLP, ReLU pointwise attention scaled by 1/L (Zimerman et al. ICML 2024), BatchNorm
    folded at inference. Under TFHE any univariate function is one exact table lookup, so the
    exact ReLU costs what a polynomial would, and cannot leave an interval and explode."""
    from polyzoo.nn import ApproxSpec, Site

    return ApproxSpec(act=Site("relu"), softmax=Site("pointwise", fn="relu"),
                      norm=Site("batchnorm"), name="tfhe-relu")


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


def qat_stage(model, variables, ds, train_in, *, n_bits: int = DEFAULT_BITS,
              rounding_bits: int | None = DEFAULT_ROUNDING, steps: int = 1500,
              lr: float = 3e-4, steps_scale: float = 1.0, seed: int = 0, log=print):
    """Recipe `finish` step: fold BatchNorm, fine-tune through the fake quantisers.

    Returns (folded model, QAT variables, {'qat': settings and validation accuracies}).
    """
    from polyzoo import models

    x, y = train_in[0], ds.train.labels  # (N, 28, 28, 1) float32, (N,)
    folded, fvars = models.fold_batchnorms(model, variables)
    rest = {k: v for k, v in fvars.items() if k != "params" and jax.tree.leaves(v)}
    fn = lambda p, xb: folded.apply({"params": p, **rest}, xb)  # noqa: E731
    val_acc = lambda f: accuracy(f, ds.val.inputs, ds.val.labels)  # noqa: E731
    float_acc = val_acc(lambda xb: fn(fvars["params"], xb))
    ptq_fn = qat.quantized(fn, n_bits, rounding_bits=rounding_bits, ranges=qat.activation_ranges(
        fn, fvars["params"], jnp.asarray(x[:2048]), n_bits=n_bits, rounding_bits=rounding_bits))
    ptq_acc = val_acc(lambda xb: ptq_fn(fvars["params"], xb))
    steps = max(2, int(steps * steps_scale))
    t0 = time.perf_counter()
    params, qfn = qat_finetune(fn, fvars["params"], x, y, n_bits=n_bits, steps=steps, lr=lr,
                               rounding_bits=rounding_bits, seed=seed)
    report = {
        "n_bits": n_bits, "rounding_bits": rounding_bits, "steps": steps, "lr": lr,
        "seconds": round(time.perf_counter() - t0, 1),
        "float_val_accuracy_before_qat": float_acc,
        "fake_quant_val_accuracy_before_qat": ptq_acc,
        "fake_quant_val_accuracy": val_acc(lambda xb: qfn(params, xb)),
        "float_val_accuracy": val_acc(lambda xb: fn(params, xb)),
    }
    log(json.dumps({"stage": "qat", **report}))
    return folded, {"params": params, **rest}, {"qat": report}
