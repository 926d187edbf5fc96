"""Quantisation-aware training in JAX, at the bit-widths Concrete-ML uses (Jacob et al. 2018
style fake quantisation with a straight-through gradient).

Concrete-ML's post-training quantisation (what `compile_onnx` does) quantises, per tensor:
  - the two operands of every matrix product: weights symmetric signed on n bits (scale from
    max |w|), activations uniform on n bits over their calibrated [min, max];
  - the model output on n bits (model_outputs) and the model input (model_inputs).
`quantized(fn, n_bits)` re-evaluates a function's jaxpr with exactly those fake quantisers
inserted, so no model needs a hook: every `dot_general` (Dense, einsum, attention products)
is found in the trace. Train the returned function's parameters with the usual optax loop,
then export the float function: Concrete-ML re-derives the same grids from calibration data.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jax.extend import core as jcore

_CALL_PARAMS = ("jaxpr", "call_jaxpr", "fun_jaxpr")


def _ste(x, q):
    """Forward q, gradient of the identity (straight-through estimator)."""
    return x + jax.lax.stop_gradient(q - x)


def fake_quant(x: jax.Array, n_bits: int, lo=None, hi=None) -> jax.Array:
    """Uniform asymmetric quantisation of x to 2**n_bits levels on [lo, hi] (default: the
    tensor's own min/max, as Concrete-ML calibrates activations), straight-through gradient."""
    lo = jax.lax.stop_gradient(jnp.min(x) if lo is None else jnp.asarray(lo, x.dtype))
    hi = jax.lax.stop_gradient(jnp.max(x) if hi is None else jnp.asarray(hi, x.dtype))
    levels = jnp.asarray(2 ** n_bits - 1, x.dtype)
    scale = jnp.maximum(hi - lo, jnp.asarray(1e-8, x.dtype)) / levels
    q = jnp.clip(jnp.round((x - lo) / scale), jnp.asarray(0, x.dtype), levels) * scale + lo
    return _ste(x, q)


def fake_quant_symmetric(w: jax.Array, n_bits: int) -> jax.Array:
    """Symmetric signed quantisation (zero point 0) of weights, straight-through gradient."""
    top = jnp.asarray(2 ** (n_bits - 1) - 1, w.dtype)
    peak = jnp.maximum(jnp.max(jnp.abs(w)), jnp.asarray(1e-8, w.dtype))
    scale = jax.lax.stop_gradient(peak / top)
    q = jnp.clip(jnp.round(w / scale), -top, top) * scale
    return _ste(w, q)


def quantized(fn: Callable, n_bits: int, *, data_argnums: tuple[int, ...] = (1,),
              quantize_output: bool = True, ranges: list | None = None,
              rounding_bits: int | None = None) -> Callable:
    """fn(params, x, ...) -> the same function with Concrete-ML's quantisers as fake quants.

    Arguments at `data_argnums` are the (encrypted) data; a matrix-product operand that depends
    on them is an activation (uniform grid on [lo, hi]), any other operand a weight (symmetric
    grid). `ranges`: the [lo, hi] of every activation quantiser in trace order, as returned by
    `activation_ranges` on a calibration batch (what Concrete-ML does); None uses each batch's
    own min/max. `rounding_bits` (Concrete-ML's rounding_threshold_bits) also rounds every
    encrypted matrix-product result to that many bits over its range before the next lookup.
    """

    def wrapped(*args):
        closed, out_shape = jax.make_jaxpr(fn, return_shape=True)(*args)
        flags = []
        for i, a in enumerate(args):
            flags += [i in data_argnums] * len(jax.tree_util.tree_leaves(a))
        leaves = jax.tree_util.tree_leaves(args)
        sites = _Sites(n_bits, ranges, rounding_bits)
        outs = _eval(closed.jaxpr, closed.consts, list(zip(leaves, flags)), sites)
        values = [sites.activation(v) if (quantize_output and f) else v for v, f in outs]
        return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(out_shape), values)

    return wrapped


def activation_ranges(fn: Callable, *args, n_bits: int | None = None,
                      rounding_bits: int | None = None, data_argnums: tuple[int, ...] = (1,),
                      quantize_output: bool = True) -> list:
    """[lo, hi] of every activation quantiser of `quantized(fn, ...)` on a calibration batch.

    With n_bits, calibration is sequential as in Concrete-ML's post-training quantisation:
    each quantiser's range is measured on values computed through the already-quantised
    layers before it. Without, on the float function.
    """
    closed = jax.make_jaxpr(fn)(*args)
    flags = []
    for i, a in enumerate(args):
        flags += [i in data_argnums] * len(jax.tree_util.tree_leaves(a))
    sites = _Sites(n_bits, None, rounding_bits)
    outs = _eval(closed.jaxpr, closed.consts,
                 list(zip(jax.tree_util.tree_leaves(args), flags)), sites)
    if quantize_output:
        for v, f in outs:
            if f:
                sites.activation(v)
    return [(float(lo), float(hi)) for lo, hi in sites.seen]


class _Sites:
    """Counts activation quantisers in trace order; n_bits None only records ranges."""

    def __init__(self, n_bits, ranges, rounding_bits=None):
        self.n_bits, self.ranges, self.seen = n_bits, ranges, []
        self.rounding_bits = rounding_bits

    def accumulator(self, x):
        """Rounding of an integer accumulator to `rounding_bits` most significant bits."""
        if self.rounding_bits is None:
            return x
        return self.activation(x, self.rounding_bits)

    def activation(self, x, bits=None):
        i = len(self.seen)
        self.seen.append((jnp.min(x), jnp.max(x)))
        if self.n_bits is None:
            return x
        bits = bits or self.n_bits
        if self.ranges is None:
            return fake_quant(x, bits)
        if i >= len(self.ranges):
            raise ValueError(f"{len(self.ranges)} calibrated ranges for a function with more "
                             "activation quantisers: recompute them with activation_ranges")
        lo, hi = self.ranges[i]
        return fake_quant(x, bits, lo, hi)

    def weight(self, w):
        return w if self.n_bits is None else fake_quant_symmetric(w, self.n_bits)


def _eval(jaxpr: jcore.Jaxpr, consts, args, sites: _Sites):
    """Evaluate jaxpr on (value, depends_on_data) pairs, fake-quantising matrix products."""
    env = {}

    def read(atom):
        if isinstance(atom, jcore.Literal):
            return atom.val, False
        return env[atom]

    for var, c in zip(jaxpr.constvars, consts):
        env[var] = (c, False)
    for var, a in zip(jaxpr.invars, args):
        env[var] = a
    for eqn in jaxpr.eqns:
        ins = [read(a) for a in eqn.invars]
        data = any(f for _, f in ins)
        sub = next((eqn.params[k] for k in _CALL_PARAMS if k in eqn.params), None)
        if sub is not None and data:
            closed = sub if hasattr(sub, "jaxpr") else jcore.ClosedJaxpr(sub, ())
            outs = _eval(closed.jaxpr, closed.consts, ins, sites)
        else:
            vals = [v for v, _ in ins]
            product = eqn.primitive.name == "dot_general" and data
            if product:
                vals = [sites.activation(v) if f else sites.weight(v) for v, f in ins]
            res = eqn.primitive.bind(*vals, **eqn.params)
            res = res if eqn.primitive.multiple_results else [res]
            if product:
                res = [sites.accumulator(r) for r in res]
            outs = [(r, data) for r in res]
        for var, out in zip(eqn.outvars, outs):
            env[var] = out
    return [read(a) for a in jaxpr.outvars]
