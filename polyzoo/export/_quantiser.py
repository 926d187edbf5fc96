"""The quantiser primitive of the circuit and its grids (Brevitas-style explicit quantisers).

`quant` is a JAX primitive, so that the ONNX translator sees each quantiser as one equation
(one `onnx.brevitas.Quant` node); its gradient is straight-through inside the grid's range
(Jacob et al. 2018). The grids are those Concrete-ML's QAT import reads: activations unsigned
with a zero point (or signed symmetric), weights signed narrow symmetric.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.interpreters import ad, batching, mlir

from polyzoo import _jaxpr

QUANT = "polyzoo_quant"  # the primitive's name: the translator maps it to onnx.brevitas.Quant


def int_range(bits: int, signed: bool, narrow: bool) -> tuple[int, int]:
    """Integer range of a Brevitas quantiser (as brevitas.function.min_int / max_int)."""
    if signed:
        return -(2 ** (bits - 1)) + int(narrow), 2 ** (bits - 1) - 1
    return 0, 2 ** bits - 1 - int(narrow)


def _quant_impl(x, scale, zero_point, *, bits, signed, narrow):
    lo, hi = int_range(bits, signed, narrow)
    q = jnp.clip(jnp.round(x / scale + zero_point), lo, hi)
    return (q - zero_point) * scale


quant_p = _jaxpr.Primitive(QUANT)
quant_p.def_impl(_quant_impl)
quant_p.def_abstract_eval(lambda x, scale, zero_point, **_: jax.core.ShapedArray(x.shape, x.dtype))
mlir.register_lowering(quant_p, mlir.lower_fun(_quant_impl, multiple_results=False))


def _quant_jvp(primals, tangents, **params):
    """Clipped straight-through: the tangent of x passes where x is inside the grid's range,
    zero where the quantiser clips (scale and zero point get none)."""
    x, scale, zero_point = primals
    tx = tangents[0]
    if type(tx) is ad.Zero:
        tx = ad.instantiate_zeros(tx)
    lo, hi = int_range(params["bits"], params["signed"], params["narrow"])
    level = x / scale + zero_point
    inside = (level >= lo - 0.5) & (level <= hi + 0.5)
    return quant_p.bind(*primals, **params), jnp.where(inside, tx, jnp.zeros_like(tx))


def _quant_batch(args, dims, **params):
    x, scale, zero_point = args
    if dims[1] is not None or dims[2] is not None:
        raise ValueError("quant: scale and zero point must not be batched")
    return quant_p.bind(x, scale, zero_point, **params), dims[0]


ad.primitive_jvps[quant_p] = _quant_jvp
batching.primitive_batchers[quant_p] = _quant_batch


def quant(x: jax.Array, scale, zero_point, *, bits: int, signed: bool,
          narrow: bool = False) -> jax.Array:
    """Brevitas uniform quantiser: (clip(round(x / scale + zp)) - zp) * scale, STE gradient."""
    return quant_p.bind(x, jnp.asarray(scale, x.dtype), jnp.asarray(zero_point, x.dtype),
                        bits=int(bits), signed=bool(signed), narrow=bool(narrow))


# Activation grids are one part in 65,536 wider than their calibrated range. A calibrated end
# is an accumulator's extreme, an integer times a unit, so without the widening values of that
# accumulator can fall exactly halfway between two levels, where Concrete-ML (float64) and the
# JAX emulation (float32) may round apart: measured on a 2-layer net with 2-bit weights, 16 of
# 200 outputs differed. 65,537 is prime, so in exact arithmetic no value of fewer than 65,537
# units is a tie after it, and float32 error is far smaller than the distance it moves.
_WIDEN = 1.0 + 2.0 ** -16


def activation_grid(lo, hi, bits: int):
    """(scale, zero point) of an unsigned n-bit grid covering [min(lo, 0), max(hi, 0)]."""
    lo = jnp.minimum(jnp.asarray(lo, jnp.float32), jnp.float32(0.0))
    hi = jnp.maximum(jnp.asarray(hi, jnp.float32), jnp.float32(0.0))
    scale = (jnp.maximum(hi - lo, jnp.float32(1e-8)) / jnp.float32(2 ** bits - 1)
             * jnp.float32(_WIDEN))
    return scale, jnp.round(-lo / scale)


def _symmetric_scale(peak, bits: int):
    """Scale of a signed narrow symmetric grid (zero point 0) reaching +-peak."""
    peak = jnp.maximum(peak, jnp.asarray(1e-8, peak.dtype))
    return peak / jnp.asarray(2 ** (bits - 1) - 1, peak.dtype)


def quant_activation(x, lo, hi, bits: int, signed: bool = False):
    """x on the n-bit grid of [lo, hi]: unsigned with a zero point, or (signed) symmetric
    with zero point 0. Returns (quantised x, (scale, zero point))."""
    if signed:
        scale = _symmetric_scale(jnp.maximum(-jnp.asarray(lo, jnp.float32),
                                             jnp.asarray(hi, jnp.float32)), bits) * _WIDEN
        zero_point = jnp.zeros((), jnp.float32)
    else:
        scale, zero_point = activation_grid(lo, hi, bits)
    scale, zero_point = jax.lax.stop_gradient(scale), jax.lax.stop_gradient(zero_point)
    return (quant(x, scale, zero_point, bits=bits, signed=signed, narrow=signed),
            (scale, zero_point))


def signed_sites(ranges) -> tuple[bool, ...]:
    """Per site, whether its calibrated range reaches below zero: those data operands get a
    signed symmetric grid (zero point 0). Concrete-ML rounds an encrypted x clear accumulator
    with the data's zero point still in it, so an unsigned grid's offset widens the accumulator
    and its rounding coarsens the signal."""
    return tuple(bool(lo < 0) for lo, _ in np.asarray(ranges, np.float64))


def quant_weight(w, bits: int):
    """w on a signed narrow symmetric grid: zero point 0, levels -(2**(n-1)-1) .. 2**(n-1)-1.
    Returns (quantised w, (scale, zero point))."""
    scale = jax.lax.stop_gradient(_symmetric_scale(jnp.max(jnp.abs(w)), bits))
    zero_point = jnp.zeros((), w.dtype)
    return (quant(w, scale, zero_point, bits=bits, signed=True, narrow=True),
            (scale, zero_point))


def kernels_on_grid(params, bits: int):
    """params with every 'kernel' leaf replaced by its quantised value (`quant_weight`), so
    that the stored weights are the circuit's. A latent QAT weight can settle within float32
    error of a rounding tie (its gradient is straight-through), where the jitted emulation,
    the op-by-op one and Concrete-ML round it apart (measured: 2 of 64 weights of one kernel,
    1,933 of 2,000 test images' logits apart); on the grid a weight sits on a level instead.
    Assumes each kernel is one weight operand (polyzoo's Dense layers)."""
    def snap(path, w):
        return quant_weight(w, bits)[0] if getattr(path[-1], "key", None) == "kernel" else w
    return jax.tree_util.tree_map_with_path(snap, params)


# ---- simple fake quantisers (no primitive) ----------------------------------------------------
def _ste(x, q):
    """Forward q, gradient of the identity (straight-through estimator)."""
    return x + jax.lax.stop_gradient(q - x)


def fake_quant(x: jax.Array, n_bits: int, lo=None, hi=None) -> jax.Array:
    """Uniform asymmetric quantisation of x to 2**n_bits levels on [lo, hi] (default: the
    tensor's own min/max), straight-through gradient."""
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
