"""The FHE-sized micro models: their TFHE spec, and the QAT stage of their zoo recipes (the
micro ViTs on MNIST, the inhibitor micro BERT on sentiment).

The zoo entry 'vit-micro-mnist-qat' (recipe models/vit_micro_mnist_qat.py, `polyzoo train
vit_micro_mnist_qat`) trains `vit-micro` with `tfhe_spec()` in float, then its `finish` step is
`qat_stage`: BatchNorm folded into the next linear layers (no division left), then
quantisation-aware fine-tuning through `qat.quantized` (the circuit's quantisers and its
accumulator rounding, straight-through). The stored network is the folded float function;
the trained grids (`ranges`, in the manifest's 'qat' record) make it the circuit again:
`export_function` -> `to_onnx` (one Quant node per quantiser) -> `compile_onnx`, which imports
the grids (`import_qat=True`) instead of re-calibrating its own.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from polyzoo.export import qat
from polyzoo.export._quant_spec import QuantSpec

MODEL = "vit-micro"
# The zoo's grids (README, export; bench/bench_export_knobs.py): 6-bit activations,
# accumulators rounded exactly to 7 bits, 5-bit operands for the encrypted x encrypted
# attention products, 5-bit weights.
# - Input: the image on the 6-bit grid too. A narrower input grid narrows the patch
#   embedding's accumulator (16 bits at 6, 12 at 2) but barely moves the cost (compiler cost
#   model -2% at 2 bits, measured 2026-11-22): the table lookups on the 7-bit rounded
#   accumulators and the attention products dominate, not the embedding.
# - Weights: chosen on the validation split (emulated circuit 91.0% against 89.6% with 6-bit
#   weights and 91.1% with 4; the 4-bit network's own float accuracy fell to 89.2%). Narrower
#   weights narrow every accumulator, yet barely move the latency (measured 2026-11-22, images
#   in turns on one key set each: 50.1 s at 5 bits, 49.5 s at 4, 51.4 s at 6, though the
#   compiler's cost model says -5% and -19%): Concrete picks each table lookup's parameters by
#   its input width, and the lookups on 7-bit rounded accumulators run on 8,192-coefficient
#   polynomials whatever the weights.
DEFAULT_QUANT = QuantSpec(bits=6, rounding_bits=7, product_bits=5, weight_bits=5)
# and a per-PBS error probability small enough that encrypted runs equal the simulation
DEFAULT_P_ERROR = 1e-5
# Training inputs the grids are calibrated on (recorded in the entry's 'qat' record, so that
# `polyzoo export` calibrates the circuit on the same ones). A test image can overflow a range
# calibrated on 1,000 (one integer in the first 16 test images; counted in the report); on all
# 7,001 (None), one run reached 90.75% emulated vs 92.80% float (-2.05 against -0.85 with
# 1,000): wider ranges, coarser grids.
CALIBRATION = 1000
# Bumped whenever a change alters what `qat_stage` trains from the same arguments, so that
# recipes refuse the finish-step checkpoints of an earlier revision (recipe.claimed_run_dir).
# 2: the model input has a quantisation site of its own (input_bits, see qat_stage).
REVISION = 2


def tfhe_spec(attention=None):
    """ReLU MLP, ReLU pointwise attention scaled by 1/L (Zimerman et al. ICML 2024), BatchNorm
    folded at inference. Under TFHE any univariate function is one exact table lookup, so the
    exact ReLU costs what a polynomial would, and cannot leave an interval and explode.

    attention: another softmax-kind Site instead of the pointwise one, e.g.
    `Site("inhibitor", param=4.0)` (inhibitor attention, no encrypted x encrypted product);
    the spec is then named "tfhe-relu-<choice>"."""
    from polyzoo.nn import ApproxSpec, Site

    name = "tfhe-relu" if attention is None else f"tfhe-relu-{attention.choice}"
    return ApproxSpec(act=Site("relu"), softmax=attention or Site("pointwise", fn="relu"),
                      norm=Site("batchnorm"), name=name)


def accuracy(fn, x, y, batch: int = 1000) -> float:
    preds = np.concatenate([np.argmax(np.asarray(fn(x[i:i + batch])), -1)
                            for i in range(0, len(x), batch)])
    return float(np.mean(preds == y))


class QatState(NamedTuple):
    """The whole state of QAT fine-tuning, checkpointed as one: the step, the parameters,
    the optimizer's state and the grids last calibrated (every `recalibrate_every` steps)."""

    step: Any
    params: Any
    opt_state: Any
    ranges: Any


def qat_batches(x, y, *, batch: int, seed: int, shift: int = 0, prepare=jnp.asarray):
    """batch_at(t) -> (prepare(images), labels) of QAT step t: the t-th draw of one seeded
    stream (`batch` examples without replacement, then, with `shift`, one roll of the batch
    by up to `shift` pixels along both image axes). A resumed run replays the stream up to
    its first step, so it sees the batches an uninterrupted run would."""
    rng, drawn = np.random.default_rng(seed), 0

    def batch_at(t: int):
        nonlocal rng, drawn
        if t < drawn:  # asked again for an earlier step: replay from the start
            rng, drawn = np.random.default_rng(seed), 0
        while True:
            idx = rng.choice(len(x), batch, replace=False)
            roll = tuple(rng.integers(-shift, shift + 1, 2)) if shift else None
            drawn += 1
            if drawn > t:
                break
        xb = x[idx] if roll is None else np.roll(x[idx], roll, axis=(1, 2))
        return prepare(jnp.asarray(xb)), jnp.asarray(y[idx], jnp.int32)
    return batch_at


def qat_finetune(fn, params, x, y, *, spec: QuantSpec, steps, lr=1e-4, batch=128, seed=0,
                 recalibrate_every=25, calibration=CALIBRATION, distill: float = 0.0,
                 temperature: float = 2.0, shift: int = 0, prepare=None, run_dir=None,
                 progress: bool = True, desc: str = "qat"):
    """Fine-tune params of fn(params, prepare(x)) -> logits through the circuit's quantisers
    (`qat.quantized` on the grids of `spec`), their grids calibrated on the first
    `calibration` inputs (those `polyzoo export` calibrates on) and re-measured every
    `recalibrate_every` steps. Runs on `polyzoo.train.loop.run_steps` (progress bar,
    divergence check; resumable from checkpoints in `run_dir` when given).

    distill: weight of the distillation term (Hinton et al. 2015: cross-entropy to the
    starting float network's logits softened by `temperature`) against the labels' term.
    shift: each batch is moved by up to `shift` pixels along both image axes (augmentation).
    prepare: what the client computes in the clear from a (shifted) batch of x, jitted
    (None: the circuit takes x as it is).
    Returns (params with the kernels on their grids, ranges, {site: widening}): the trained
    weights and grids that `export_function` puts in the circuit, the grids of the data
    operands of accumulators that would need more than spec.rounding_bits bits in the
    circuit widened (`qat.headroom_ranges`)."""
    from polyzoo.train import loop

    prepare = jax.jit(prepare) if prepare else jnp.asarray
    xc = prepare(jnp.asarray(x[:calibration]))
    tx = optax.adam(optax.cosine_decay_schedule(lr, steps))
    teacher = functools.partial(fn, params)

    @jax.jit
    def step(params, opt, ranges, xb, yb):  # ranges traced: recalibration does not recompile
        def loss(p):
            logits = qat.quantized(fn, spec, ranges=ranges)(p, xb)
            hard = optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()
            if not distill:  # no teacher forward
                return hard
            soft = jax.nn.softmax(teacher(xb) / temperature)
            kd = optax.softmax_cross_entropy(logits / temperature, soft).mean()
            return (1 - distill) * hard + distill * temperature ** 2 * kd
        value, grads = jax.value_and_grad(loss)(params)
        with jax.numpy_dtype_promotion("standard"):
            updates, opt = tx.update(grads, opt, params)
        return optax.apply_updates(params, updates), opt, value

    # The calibration inputs are an argument, not a constant closed over: XLA would spend
    # seconds constant-folding the first layer on them (and say so on stderr).
    calibrate = functools.partial(jax.jit(lambda p, xc: qat.site_ranges(fn, p, xc, spec=spec)),
                                  xc=xc)

    def train_step(state: QatState, batch):
        step_ = int(state.step)  # the state starts with the grids of step 0's parameters
        ranges = (calibrate(state.params) if step_ and step_ % recalibrate_every == 0
                  else state.ranges)
        params, opt, value = step(state.params, state.opt_state, ranges, *batch)
        return QatState(state.step + 1, params, opt, ranges), {"loss": value}

    state = QatState(np.int32(0), params, tx.init(params), calibrate(params))
    state, _ = loop.run_steps(
        train_step, state, qat_batches(x, y, batch=batch, seed=seed, shift=shift,
                                       prepare=prepare),
        loop.LoopConfig(steps=steps, batch_size=batch, seed=seed), run_dir=run_dir,
        progress=progress, desc=desc)
    params = qat.kernels_on_grid(state.params, spec.weight_bits or spec.bits)
    if spec.rounding_bits is None:
        ranges, widen = qat.activation_ranges(fn, params, xc, spec=spec), {}
    else:  # no rounded accumulator may need more than rounding_bits bits in the circuit
        ranges, widen = qat.headroom_ranges(fn, params, xc, spec=spec)
    return jax.tree.map(np.asarray, params), ranges, widen


CLIENT_METHOD = "embed_patches"  # what the client of a client-embedding ViT computes
CLIENT_PARAMS = ("stem", "embed", "pos_embedding")  # the parameters `Vit.embed_patches` uses
# A BERT's client tokenises and runs `Bert.embed`, with these parameters
BERT_CLIENT_METHOD = "embed"
BERT_CLIENT_PARAMS = ("word_embeddings", "embed_proj", "word_delta", "position_embeddings",
                      "token_type_embeddings", "embed_norm")


def client_side(model) -> tuple[str, tuple[str, ...]]:
    """(the method a client-embedding model's client runs, the parameters it uses)."""
    from polyzoo import models

    if isinstance(model.config, models.BertConfig):
        chunk = ("chunk_proj",) if model.config.chunk_on_client else ()
        return BERT_CLIENT_METHOD, BERT_CLIENT_PARAMS + chunk
    return CLIENT_METHOD, CLIENT_PARAMS


def _split(model, variables, client: bool = False):
    """(fn(params, xb) -> logits, params, the other non-empty collections held fixed).

    client: the circuit starts after the client's embedding (`encode_embedded`): xb are the
    client's embeddings, and params leave out the embedding's, which fn holds fixed."""
    rest = {k: v for k, v in variables.items() if k != "params" and jax.tree.leaves(v)}
    params = variables["params"]
    if not client:
        return (lambda p, xb: model.apply({"params": p, **rest}, xb)), params, rest
    _, names = client_side(model)
    fixed = {k: v for k, v in params.items() if k in names}
    server = {k: v for k, v in params.items() if k not in names}

    def fn(p, xb):
        return model.apply({"params": {**fixed, **p}, **rest}, xb, method="encode_embedded")
    return fn, server, rest


def export_function(model, variables, qat_meta: dict):
    """xb -> logits of a folded model with its trained quantisers as `qat.quant` (to_onnx
    makes them Quant nodes, compile_onnx imports their grids): what to export for a QAT entry.
    `qat_meta` is the entry's manifest record 'qat' (its `QuantSpec.record` fields, the
    trained 'ranges'; 'client': xb are the client's patch embeddings)."""
    if not qat_meta.get("ranges"):
        raise ValueError("this QAT record has no trained grids ('ranges'): retrain the entry "
                         "with `polyzoo train vit_micro_mnist_qat`")
    fn, params, _ = _split(model, variables, client=bool(qat_meta.get("client")))
    quantised = qat.quantized(fn, QuantSpec.from_record(qat_meta), ranges=qat_meta["ranges"],
                              emulate=False)
    return lambda xb: quantised(params, xb)


def emulated_function(model, variables, qat_meta: dict):
    """xb -> logits of the circuit without PBS errors, emulated in JAX (accumulator rounding
    and encrypted-add rescaling included): the training-time view of the circuit (xb as for
    `export_function`)."""
    fn, params, _ = _split(model, variables, client=bool(qat_meta.get("client")))
    quantised = qat.quantized(fn, QuantSpec.from_record(qat_meta),
                              ranges=jnp.asarray(qat_meta["ranges"], jnp.float32))
    return lambda xb: quantised(params, xb)


def qat_stage(model, variables, ds, train_in, *, quant: QuantSpec = DEFAULT_QUANT,
              steps: int = 1500, lr: float = 3e-4, signed_grids: bool = False,
              distill: float = 0.0, temperature: float = 2.0, shift: int = 0,
              client_embeds: bool = False, steps_scale: float = 1.0, seed: int = 0,
              run_dir=None, progress: bool = True, log=print):
    """Recipe `finish` step: fold BatchNorm (if the spec has it), fine-tune through the fake
    quantisers of `quant` (`qat_finetune`: distill, temperature, shift), store the kernels on
    their grids and widen the grids under accumulators that would need more than
    quant.rounding_bits in the circuit.

    signed_grids: data operands whose calibrated range reaches below zero get signed symmetric
    grids (`qat.signed_sites`, measured before training and stored in the spec), so the
    accumulators Concrete-ML rounds carry no zero-point offset.
    client_embeds: the client computes the embedding in the clear (`Vit.embed_patches`; a
    BERT's client tokenises and runs `Bert.embed`, as THE-X's client does) and the circuit
    starts at the first block; the embedding keeps its float weights and is not fine-tuned.
    A BERT must embed on the client (its circuit cannot take token ids).
    run_dir: where the fine-tuning checkpoints as it goes and resumes from (None: it does not).

    Returns (folded model, QAT variables, {'qat': settings and validation accuracies}).
    """
    from polyzoo import models

    x, y = train_in[0], ds.train.labels  # images (N, 28, 28, 1) float32 or ids (N, S), (N,)
    text = np.issubdtype(x.dtype, np.integer)
    if text and not client_embeds:
        raise ValueError("a BERT's circuit cannot take token ids: run its QAT stage with "
                         "client_embeds=True (the client embeds, the circuit starts after)")
    from polyzoo.train.data import model_inputs

    inputs_of = lambda split: model_inputs(ds, split, x.shape[1] if text else None)[0]  # noqa: E731
    folds = any(model.spec.site(s).behaviour.folds for s in model.site_names())
    folded, fvars = models.fold_batchnorms(model, variables) if folds else (model, variables)
    fn, start, rest = _split(folded, fvars, client=client_embeds)
    method, _ = client_side(folded)
    prepare = (jax.jit(lambda xb: folded.apply(fvars, xb, method=method))
               if client_embeds else jnp.asarray)
    full = lambda p: (lambda xb: fn(p, prepare(xb)))  # noqa: E731  raw inputs -> logits
    val_x, test_x = inputs_of("val"), inputs_of("test")
    val_acc = lambda f: accuracy(f, val_x, ds.val.labels)  # noqa: E731
    float_acc = val_acc(full(start))
    # recorded, never used for a choice: the float network's own test accuracy, the reference
    # for what export costs (the stored network's kernels are on the circuit's grids)
    float_test_acc = accuracy(full(start), test_x, ds.test.labels)
    if quant.input_bits is None:
        # An input read by two quantisers (a block's input: the attention's signed grid and
        # the residual's) is quantised by Concrete-ML on a grid of its own first (model_inputs
        # bits, calibrated), then again by each: twice in the circuit, once in an emulation
        # without an input site. On the -b5 entry the two disagreed on 3.85% of the test
        # digits; fed the circuit's quantised input, the emulation equals it to 5e-6.
        quant = dataclasses.replace(quant, input_bits=quant.bits)
    xc = prepare(jnp.asarray(x[:CALIBRATION]))
    ptq_ranges = qat.activation_ranges(fn, start, xc, spec=quant)
    if signed_grids:
        quant = dataclasses.replace(quant, signed=qat.signed_sites(ptq_ranges))
        ptq_ranges = qat.activation_ranges(fn, start, xc, spec=quant)
    ptq_fn = qat.quantized(fn, quant, ranges=ptq_ranges)
    ptq_acc = val_acc(lambda xb: ptq_fn(start, prepare(xb)))
    steps = max(2, int(steps * steps_scale))
    t0 = time.perf_counter()
    params, ranges, widen = qat_finetune(fn, start, x, y, spec=quant, steps=steps, lr=lr,
                                         seed=seed, distill=distill, temperature=temperature,
                                         shift=shift,
                                         prepare=prepare if client_embeds else None,
                                         run_dir=run_dir, progress=progress)
    qfn = qat.quantized(fn, quant, ranges=ranges)
    report = {
        **quant.record(), "steps": steps, "lr": lr,
        "distill": distill, "temperature": temperature, "shift": shift,
        "client": method if client_embeds else None,
        "seconds": round(time.perf_counter() - t0, 1),
        "float_val_accuracy_before_qat": float_acc,
        "float_test_accuracy_before_qat": float_test_acc, "kernels_on_grid": True,
        "widened_sites": {str(k): round(v, 6) for k, v in widen.items()},
        "fake_quant_val_accuracy_before_qat": ptq_acc,
        "fake_quant_val_accuracy": val_acc(lambda xb: qfn(params, prepare(xb))),
        "float_val_accuracy": val_acc(full(params)),
    }
    log(json.dumps({"stage": "qat", **report}))
    report["ranges"] = qat.export_ranges(ranges)  # the circuit's grids, for export_function
    report["calibration"] = len(x[:CALIBRATION])   # the inputs they were calibrated on
    params = {**fvars["params"], **params}  # the client's embedding, as it was trained
    return folded, {"params": params, **rest}, {"qat": report}
