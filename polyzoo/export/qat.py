"""Quantisation-aware training in JAX on the exact grids the TFHE circuit uses (Jacob et al.
2018 fake quantisation with a straight-through gradient; Brevitas-style explicit quantisers).

`quantized(fn, spec, ranges=...)` (`spec`: a `QuantSpec`) re-evaluates a function's jaxpr with a quantiser
(the `polyzoo_quant` primitive, `quant`) wherever Concrete-ML's QAT import needs one:
  - both operands of every matrix product (`dot_general`): activations on an unsigned n-bit
    grid over their calibrated [lo, hi] (zero included; or, per site, a signed symmetric grid,
    see `signed_sites`), constants (weights) on a signed narrow symmetric grid of
    `weight_bits` (default n; zero point 0, scale max|w| / (2**(n-1) - 1));
  - both operands of an add/sub of two encrypted values (residual connections), and the input
    of an encrypted `reduce_sum` (pooling);
  - with `input_bits`, the model input itself, on its own (usually narrower) grid.
With `emulate=True` (training, evaluation) it also reproduces two roundings that Concrete-ML
applies inside the circuit: accumulators (of products and of encrypted sums) rounded to their
`rounding_bits` most significant bits (`rounding_threshold_bits`, power-of-two steps as
`fhe.round_bit_pattern`; not the output layer's, which Concrete-ML dequantises in the clear),
and the common-scale requantisation of the two operands of an encrypted add. Tests check that
Concrete-ML's noise-free circuit equals this emulation. With
`emulate=False` the function is what `to_onnx` exports: every `quant` becomes one
`onnx.brevitas.Quant` node whose scale, zero point and bit-width are initialisers, and
`compile_onnx` compiles it with `import_qat=True`, so the circuit uses exactly the trained
grids instead of re-calibrating its own. After training, `kernels_on_grid` puts the weights
on their grids, so that none is left at a rounding tie.

The quantiser primitive and its grids live in `_quantiser`, the emulating interpreter in
`_emulation`; this module is their public face.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from polyzoo.export import _emulation
from polyzoo.export._quant_spec import QuantSpec
from polyzoo.export._quantiser import (QUANT, activation_grid, fake_quant, fake_quant_symmetric,
                                       int_range, kernels_on_grid, quant, quant_activation,
                                       quant_p, quant_weight, signed_sites)

__all__ = ["QuantSpec", "quantized", "activation_ranges", "site_ranges", "rounding_overflows",
           "headroom_ranges", "export_ranges", "QUANT", "quant", "quant_p", "int_range",
           "activation_grid", "quant_activation", "quant_weight", "signed_sites",
           "kernels_on_grid", "fake_quant", "fake_quant_symmetric"]


def _as_spec(spec) -> QuantSpec:
    if not isinstance(spec, QuantSpec):
        raise TypeError(f"expected a QuantSpec, got {spec!r}: write QuantSpec(bits={spec!r}) "
                        "(polyzoo.export.QuantSpec) for a plain bit-width")
    return spec


def quantized(fn: Callable, spec: QuantSpec, *, data_argnums: tuple[int, ...] = (1,),
              ranges=None, emulate: bool = True) -> Callable:
    """fn(params, x, ...) -> the same function with the circuit's quantisers inserted, on the
    grids of `spec` (a `QuantSpec`: bits, rounding, product, weight and input bits, signed
    sites).

    Arguments at `data_argnums` are the (encrypted) data. `ranges`: one [lo, hi] per site in
    trace order, as returned by `activation_ranges` on a calibration batch (an array, so it can
    be traced: recalibration does not recompile); None uses each batch's own ranges.
    `emulate=False` leaves out the roundings Concrete-ML does itself (for export: `to_onnx`).
    With `spec.input_bits` the data arguments are quantised on their own grid before anything
    uses them; a narrow input narrows the first layer's accumulators, the widest of a ViT's
    (the patch embedding sums 196 pixel products per output on the micro ViT). Narrower
    weights narrow every accumulator (fewer bits for its rounding to remove); the lookups
    after a rounding keep their input width, which is what sets Concrete's parameters
    (measured: see micro.DEFAULT_QUANT).
    """
    spec = _as_spec(spec)

    def wrapped(*args):
        closed, out_shape = jax.make_jaxpr(fn, return_shape=True)(*args)
        sites = _emulation.Sites(spec, ranges, emulate)
        outs = _emulation.run(closed, args, data_argnums, sites)
        if ranges is not None and sites.count != len(ranges):
            raise ValueError(f"{len(ranges)} calibrated ranges for a function with "
                             f"{sites.count} quantisation sites: recompute them with "
                             "activation_ranges")
        return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(out_shape),
                                            [v for v, _, _ in outs])

    return wrapped


def activation_ranges(fn: Callable, *args, spec: QuantSpec | None = None,
                      widen: dict | None = None, data_argnums: tuple[int, ...] = (1,)) -> list:
    """[lo, hi] of every quantisation site of `quantized(fn, ...)` on a calibration batch.

    With a spec, calibration is sequential as in Concrete-ML's QAT import: each site's range is
    measured on values computed through the quantisers before it, but without the roundings
    Concrete-ML applies inside the circuit (accumulators, encrypted adds), as Concrete-ML
    calibrates its own parameters (add scales, rounding shifts) on those values. Without
    one, on the float function. `widen`: {site: factor} widens those sites' ranges (and so
    their grids) before the sites after them are measured (`headroom_ranges`).
    """
    table = site_ranges(fn, *args, spec=spec, widen=widen, data_argnums=data_argnums)
    return [(float(lo), float(hi)) for lo, hi in np.asarray(table)]


def site_ranges(fn: Callable, *args, spec: QuantSpec | None = None, widen: dict | None = None,
                data_argnums: tuple[int, ...] = (1,)) -> jax.Array:
    """`activation_ranges` as a (sites, 2) array: traceable, so a training loop can jit it."""
    closed = jax.make_jaxpr(fn)(*args)
    # As Concrete-ML calibrates: through the quantisers, without its own roundings.
    sites = _emulation.Sites(spec and _as_spec(spec), None, False, widen)
    _emulation.run(closed, args, data_argnums, sites)
    return jnp.stack([jnp.stack([lo, hi]) for lo, hi in sites.seen]).astype(jnp.float32)


def rounding_overflows(fn: Callable, *args, ranges, spec: QuantSpec,
                       data_argnums: tuple[int, ...] = (1,)) -> list:
    """(accumulator site, its data operands' sites) for every rounded accumulator whose
    values, rounded, need more than spec.rounding_bits bits on the calibration batch `args`.

    Concrete-ML takes the bits to remove from the calibrated range (without the roundings
    before it), but Concrete sizes the accumulator by its values in the circuit (with them),
    and rounds without overflow protection. Where those values, rounded, are wider, the table
    lookups reading them take more input bits: on the micro ViT, one accumulator reaching
    1,026 instead of its calibrated 1,022 put 40 lookups on 16,384-coefficient polynomials
    (and 2.5 GB more keys); or, where only the rounding carries past the top, a value wraps.
    """
    spec = _as_spec(spec)
    ranges = np.asarray(ranges, np.float64)
    structure = []

    @jax.jit
    def measure(*a):  # the accumulators' values through the emulated circuit
        sites = _emulation.Sites(spec, jnp.asarray(ranges, jnp.float32), True)
        _emulation.run(jax.make_jaxpr(fn)(*a), a, data_argnums, sites)
        structure[:] = [(site, operands) for site, operands, _, _, _ in sites.rounded]
        return [_emulation.bits_of(lo, hi) - lsbs for _, _, lo, hi, lsbs in sites.rounded]

    bits = measure(*args)  # bits of each rounded accumulator's values, in the circuit
    return [found for found, b in zip(structure, bits) if float(b) > spec.rounding_bits]


def headroom_ranges(fn: Callable, *args, spec: QuantSpec, factor: float = 1.01,
                    rounds: int = 20) -> tuple[list, dict]:
    """`activation_ranges`, with the grids of the data operands of every accumulator that
    `rounding_overflows` finds widened by `factor` (repeatedly) until none does. Returns
    (ranges, {site: widening factor})."""
    spec = _as_spec(spec)
    rounding_bits = spec.rounding_bits
    widen = {}
    for _ in range(rounds):
        ranges = activation_ranges(fn, *args, spec=spec, widen=widen)
        overflows = rounding_overflows(fn, *args, ranges=ranges, spec=spec)
        if not overflows:
            return ranges, widen
        for site, operands in overflows:
            known = [o for o in operands if o is not None]
            if not known:
                raise ValueError(f"accumulator site {site} needs more than {rounding_bits} "
                                 "bits once rounded and has no data grid to widen")
            for o in known:
                widen[o] = widen.get(o, 1.0) * factor
    raise ValueError(f"rounded accumulators still need more than {rounding_bits} bits after "
                     f"widening their grids {rounds} times by {factor}: {overflows}")


def export_ranges(ranges) -> list:
    """Ranges as plain floats (JSON for the manifest)."""
    return [[float(lo), float(hi)] for lo, hi in np.asarray(ranges, np.float64)]
