"""Quantisation-aware training in JAX on the exact grids the TFHE circuit uses (Jacob et al.
2018 fake quantisation with a straight-through gradient; Brevitas-style explicit quantisers).

`quantized(fn, n_bits, ranges=...)` re-evaluates a function's jaxpr with a quantiser
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
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.interpreters import ad, batching, mlir

from polyzoo import _jaxpr
# Primitives that only move values: a quantised value stays quantised through them.
_MOVES = ("reshape", "transpose", "squeeze", "expand_dims", "broadcast_in_dim", "slice",
          "copy", "copy_p", "convert_element_type")
QUANT = "polyzoo_quant"  # the primitive's name: the translator maps it to onnx.brevitas.Quant


# ---- the quantiser primitive ----------------------------------------------------------------
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


# ---- inserting the quantisers into a function -------------------------------------------------
def quantized(fn: Callable, n_bits: int, *, data_argnums: tuple[int, ...] = (1,),
              ranges=None, rounding_bits: int | None = None, emulate: bool = True,
              product_bits: int | None = None, signed: tuple[bool, ...] | None = None,
              input_bits: int | None = None, weight_bits: int | None = None) -> Callable:
    """fn(params, x, ...) -> the same function with the circuit's quantisers inserted.

    Arguments at `data_argnums` are the (encrypted) data. `ranges`: one [lo, hi] per site in
    trace order, as returned by `activation_ranges` on a calibration batch (an array, so it can
    be traced: recalibration does not recompile); None uses each batch's own ranges.
    `rounding_bits`: Concrete-ML's rounding_threshold_bits, emulated on every accumulator.
    `emulate=False` leaves out the roundings Concrete-ML does itself (for export: `to_onnx`).
    `product_bits`: bits of the operands of encrypted x encrypted products (default n_bits);
    each such scalar product costs two table lookups on (a + b) and (a - b), so their width
    sets much of the circuit's cost.
    `signed`: per site (static, as `signed_sites` returns it), whether a data operand of a
    product with weights gets a signed symmetric grid; None: unsigned grids everywhere.
    `input_bits`: the data arguments are quantised on their own unsigned grid of this many
    bits before anything uses them (Concrete-ML's `model_inputs` bits, `Knobs.input_bits`);
    None: each is quantised where a product first uses it, at n_bits. A narrow input narrows
    the first layer's accumulators, the widest of a ViT's (the patch embedding sums 196 pixel
    products per output on the micro ViT).
    `weight_bits`: bits of the weights' signed symmetric grids (default n_bits). Narrower
    weights narrow every accumulator (fewer bits for its rounding to remove); the lookups
    after a rounding keep their input width, which is what sets Concrete's parameters
    (measured: see micro.DEFAULT_WEIGHT_BITS).
    """

    def wrapped(*args):
        closed, out_shape = jax.make_jaxpr(fn, return_shape=True)(*args)
        sites = _Sites(n_bits, ranges, rounding_bits, emulate, product_bits, signed, input_bits,
                       weight_bits)
        outs = _run(closed, args, data_argnums, sites)
        if ranges is not None and sites.count != len(ranges):
            raise ValueError(f"{len(ranges)} calibrated ranges for a function with "
                             f"{sites.count} quantisation sites: recompute them with "
                             "activation_ranges")
        return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(out_shape),
                                            [v for v, _, _ in outs])

    return wrapped


def activation_ranges(fn: Callable, *args, n_bits: int | None = None,
                      rounding_bits: int | None = None, product_bits: int | None = None,
                      signed: tuple[bool, ...] | None = None, input_bits: int | None = None,
                      weight_bits: int | None = None, widen: dict | None = None,
                      data_argnums: tuple[int, ...] = (1,)) -> list:
    """[lo, hi] of every quantisation site of `quantized(fn, ...)` on a calibration batch.

    With n_bits, calibration is sequential as in Concrete-ML's QAT import: each site's range is
    measured on values computed through the quantisers before it, but without the roundings
    Concrete-ML applies inside the circuit (accumulators, encrypted adds), as Concrete-ML
    calibrates its own parameters (add scales, rounding shifts) on those values. Without
    n_bits, on the float function. `widen`: {site: factor} widens those sites' ranges (and so
    their grids) before the sites after them are measured (`headroom_ranges`).
    """
    table = site_ranges(fn, *args, n_bits=n_bits, rounding_bits=rounding_bits,
                        product_bits=product_bits, signed=signed, input_bits=input_bits,
                        weight_bits=weight_bits, widen=widen, data_argnums=data_argnums)
    return [(float(lo), float(hi)) for lo, hi in np.asarray(table)]


def site_ranges(fn: Callable, *args, n_bits: int | None = None,
                rounding_bits: int | None = None, product_bits: int | None = None,
                signed: tuple[bool, ...] | None = None, input_bits: int | None = None,
                weight_bits: int | None = None, widen: dict | None = None,
                data_argnums: tuple[int, ...] = (1,)) -> jax.Array:
    """`activation_ranges` as a (sites, 2) array: traceable, so a training loop can jit it."""
    closed = jax.make_jaxpr(fn)(*args)
    # As Concrete-ML calibrates: through the quantisers, without its own roundings.
    sites = _Sites(n_bits, None, rounding_bits if n_bits else None, False, product_bits, signed,
                   input_bits, weight_bits, widen)
    _run(closed, args, data_argnums, sites)
    return jnp.stack([jnp.stack([lo, hi]) for lo, hi in sites.seen]).astype(jnp.float32)


def rounding_overflows(fn: Callable, *args, ranges, n_bits: int, rounding_bits: int,
                       data_argnums: tuple[int, ...] = (1,), **grids) -> list:
    """(accumulator site, its data operands' sites) for every rounded accumulator whose
    values, rounded, need more than rounding_bits bits on the calibration batch `args`.

    Concrete-ML takes the bits to remove from the calibrated range (without the roundings
    before it), but Concrete sizes the accumulator by its values in the circuit (with them),
    and rounds without overflow protection. Where those values, rounded, are wider, the table
    lookups reading them take more input bits: on the micro ViT, one accumulator reaching
    1,026 instead of its calibrated 1,022 put 40 lookups on 16,384-coefficient polynomials
    (and 2.5 GB more keys); or, where only the rounding carries past the top, a value wraps.
    """
    ranges = np.asarray(ranges, np.float64)
    structure = []

    @jax.jit
    def measure(*a):  # the accumulators' values through the emulated circuit
        sites = _Sites(n_bits, jnp.asarray(ranges, jnp.float32), rounding_bits, True, **grids)
        _run(jax.make_jaxpr(fn)(*a), a, data_argnums, sites)
        structure[:] = [(site, operands) for site, operands, _, _, _ in sites.rounded]
        return [_bits_of(lo, hi) - lsbs for _, _, lo, hi, lsbs in sites.rounded]

    bits = measure(*args)  # bits of each rounded accumulator's values, in the circuit
    return [found for found, b in zip(structure, bits) if float(b) > rounding_bits]


def headroom_ranges(fn: Callable, *args, n_bits: int, rounding_bits: int, factor: float = 1.01,
                    rounds: int = 20, **grids) -> tuple[list, dict]:
    """`activation_ranges`, with the grids of the data operands of every accumulator that
    `rounding_overflows` finds widened by `factor` (repeatedly) until none does. Returns
    (ranges, {site: widening factor})."""
    widen = {}
    for _ in range(rounds):
        ranges = activation_ranges(fn, *args, n_bits=n_bits, rounding_bits=rounding_bits,
                                   widen=widen, **grids)
        overflows = rounding_overflows(fn, *args, ranges=ranges, n_bits=n_bits,
                                       rounding_bits=rounding_bits, **grids)
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


def _run(closed: _jaxpr.ClosedJaxpr, args, data_argnums, sites: "_Sites") -> list:
    """Evaluate `closed` on args with the quantisers of `sites` (its output products marked)."""
    flagged = _flagged(args, data_argnums)
    sites.outputs = _output_products(closed.jaxpr, flagged)
    if sites.input_bits:  # the model input on its own grid, before anything uses it
        flagged = [_input_triple(v, sites) if f else (v, f, g) for v, f, g in flagged]
    return _eval(closed.jaxpr, closed.consts, flagged, sites)


def _input_triple(x, sites: "_Sites"):
    """A model input as a (value, data, grid) triple, quantised on its input_bits grid."""
    value, grid = sites.activation(x, bits=sites.input_bits)
    return value, True, grid


def _flagged(args, data_argnums):
    """(leaf, is it data, grid None) for every leaf of args."""
    pairs = []
    for i, a in enumerate(args):
        pairs += [(leaf, i in data_argnums, None) for leaf in jax.tree_util.tree_leaves(a)]
    return pairs


def _output_products(jaxpr: _jaxpr.Jaxpr, flagged) -> set[int]:
    """ids of the encrypted x clear products whose result is an output of the function, up to
    added constants (the bias) and shape moves, and of encrypted sums that are one up to shape
    moves. Concrete-ML returns such a layer's integers unrounded, to be dequantised in the
    clear, so their accumulators are not rounded."""
    data = {v for v, (_, f, _) in zip(jaxpr.invars, flagged) if f}
    producer = {}
    for eqn in jaxpr.eqns:
        if any(_jaxpr.is_var(a) and a in data for a in eqn.invars):
            data.update(eqn.outvars)
        producer.update((o, eqn) for o in eqn.outvars)
    found = set()
    for v in jaxpr.outvars:
        added = False  # a constant was added on the way (a Gemm's bias, not a sum's)
        while _jaxpr.is_var(v) and v in producer:
            eqn = producer[v]
            name = eqn.primitive.name
            encrypted = [a for a in eqn.invars if _jaxpr.is_var(a) and a in data]
            if len(encrypted) == 1 and (name == "dot_general"
                                        or (name == "reduce_sum" and not added)):
                found.add(id(eqn))
            if len(encrypted) != 1 or name not in ("add", "sub", *_MOVES):
                break
            added |= name in ("add", "sub")
            v = encrypted[0]
    return found


def _bits_of(lo, hi):
    """Bits of the smallest integer type holding [lo, hi] (concrete Integer.that_can_represent)."""
    lo, hi = jnp.round(lo), jnp.round(hi)
    unsigned = jnp.ceil(jnp.log2(jnp.maximum(hi, jnp.float32(0.0)) + jnp.float32(1.0)))
    signed = jnp.float32(1.0) + jnp.ceil(jnp.log2(jnp.maximum(-lo, hi + jnp.float32(1.0))))
    return jnp.maximum(jnp.where(lo < 0, signed, unsigned), jnp.float32(1.0))


class _Sites:
    """Quantisation sites in trace order. n_bits None only records ranges (float function)."""

    def __init__(self, n_bits, ranges, rounding_bits, emulate, product_bits=None, signed=None,
                 input_bits=None, weight_bits=None, widen=None):
        self.n_bits, self.ranges, self.rounding_bits = n_bits, ranges, rounding_bits
        self.product_bits, self.signed = product_bits or n_bits, signed or ()
        self.input_bits, self.weight_bits = input_bits, weight_bits or n_bits
        self.emulate, self.seen, self.count = emulate, [], 0
        self.outputs = set()  # ids of the products that give an output (`_output_products`)
        self.widen = dict(widen or {})  # site -> factor its calibrated range is widened by
        self.grid_site = {}  # id(grid) -> (site, grid): the site a data grid was calibrated at
        # per rounded accumulator, emulated: (site, its data operands' sites, min and max of
        # its rounded values, bits removed)
        self.rounded = []

    def _range(self, x):
        i = self.count
        self.count += 1
        if self.ranges is None:
            factor = jnp.float32(self.widen.get(i, 1.0))
            lo, hi = jnp.min(x) * factor, jnp.max(x) * factor
            self.seen.append((lo, hi))
            return jax.lax.stop_gradient(lo), jax.lax.stop_gradient(hi)
        if i >= len(self.ranges):
            raise ValueError(f"{len(self.ranges)} calibrated ranges for a function with more "
                             "quantisation sites: recompute them with activation_ranges")
        return self.ranges[i][0], self.ranges[i][1]

    def activation(self, x, already=None, bits=None):
        """(quantised x, its (scale, zero point)) on an unsigned grid of `bits` (default
        n_bits); a value already quantised passes as is."""
        if already:
            return x, already
        lo, hi = self._range(x)
        if self.n_bits is None:  # float: no quantiser, but a site (same sites as quantised)
            return x, (lo, hi)
        return self.mark(quant_activation(x, lo, hi, bits or self.n_bits))

    def mark(self, quantised):
        """Remember at which site the grid of a (value, grid) pair was calibrated."""
        self.grid_site[id(quantised[1])] = (self.count - 1, quantised[1])
        return quantised

    def site_of(self, grid):
        return self.grid_site.get(id(grid), (None,))[0]

    def rescale(self, a, b, sign):
        """Concrete-ML's encrypted add: both operands re-quantised to the output's scale."""
        total = a + b if sign > 0 else a - b
        lo, hi = self._range(total)
        if self.n_bits is None or not self.emulate:
            return total
        scale = jnp.maximum(hi - lo, jnp.float32(1e-8)) / jnp.float32(2 ** self.n_bits - 1)
        exact = jnp.round(a / scale) * scale + sign * jnp.round(b / scale) * scale
        return _ste(total, exact)

    def accumulator(self, acc_int, to_float, output: bool = False, operands=()):
        """Round an integer accumulator to its `rounding_bits` MSBs (fhe.round_bit_pattern);
        an output layer's is not rounded (but keeps its site, so stored ranges stay valid).
        `operands`: the grids of its data operands."""
        if self.rounding_bits is None or self.n_bits is None:
            return None
        lo, hi = self._range(acc_int)
        if not self.emulate or output:
            return None
        acc_int = jnp.round(acc_int)  # an integer in the circuit: float32 error must not move a tie
        lsbs = jnp.maximum(_bits_of(lo, hi) - jnp.float32(self.rounding_bits), jnp.float32(0.0))
        step = jnp.exp2(lsbs)
        rounded = jnp.floor(acc_int / step + jnp.float32(0.5)) * step
        self.rounded.append((self.count - 1, tuple(self.site_of(g) for g in operands),
                             jnp.min(rounded), jnp.max(rounded), lsbs))
        return to_float(rounded)


def _product(eqn, ins, sites: _Sites):
    """A dot_general with encrypted operand(s): quantised operands, emulated accumulator."""
    (x, fx, qx), (y, fy, qy) = ins
    if fx and fy and sites.n_bits and sites.rounding_bits is not None:
        # Concrete-ML squares the raw operand integers' sums a + b and a - b, rounded to
        # rounding_bits like an accumulator: b-bit operands' sums are (b + 1)-bit, so from
        # rounding_bits b + 1 up nothing is rounded there (measured: 5-bit operands equal the
        # emulation at rounding 6, 4-bit ones differ at rounding 4). An operand quantised
        # before (`qx`, `qy`) may be on the wider activation or input grid.
        widest = max([sites.product_bits]
                     + [max(sites.n_bits, sites.input_bits or 0) for q in (qx, qy) if q])
        if sites.rounding_bits < widest + 1:
            raise ValueError(
                f"rounding_bits {sites.rounding_bits} with {widest}-bit operands of an "
                "encrypted x encrypted product: Concrete-ML would also round the operand sums "
                "(a + b, a - b) it squares, which the emulation does not model; use "
                f"rounding_bits >= {widest + 1} or product_bits <= {sites.rounding_bits - 1}")
    grids = []
    for v, f, already in ((x, fx, qx), (y, fy, qy)):
        if sites.n_bits is None:
            if f and not already:
                sites._range(v)
            grids.append((v, None))
        elif f:
            if already:  # the output of a quantiser (through shape-only ops): its grid stands
                grids.append((v, already))
                continue
            site = sites.count
            lo, hi = sites._range(v)
            bits = sites.product_bits if fx and fy else sites.n_bits
            signed = not (fx and fy) and site < len(sites.signed) and sites.signed[site]
            grids.append(sites.mark(quant_activation(v, lo, hi, bits, signed)))
        else:
            grids.append(quant_weight(v, sites.weight_bits))
    (xq, gx), (yq, gy) = grids
    out = jax.lax.dot_general(xq, yq, **eqn.params)
    if fx and fy:
        # Concrete-ML re-quantises an encrypted x encrypted product before it is reshaped
        out = _rounded_product(out, xq, yq, gx, gy, eqn, sites, fx, fy)
        return sites.activation(out)
    return _rounded_product(out, xq, yq, gx, gy, eqn, sites, fx, fy), None


def _rounded_product(out, xq, yq, gx, gy, eqn, sites, fx, fy):
    """The product with its accumulator rounded as Concrete-ML does (when rounding_bits)."""
    if gx is None or gy is None or sites.rounding_bits is None:
        return out
    (sx, zx), (sy, zy) = gx, gy
    sx, zx, sy, zy = (jax.lax.stop_gradient(v) for v in (sx, zx, sy, zy))
    unit = sx * sy
    if fx and fy:
        # encrypted x encrypted: Concrete-ML rounds (qx - zx) @ (qy - zy), zero points removed
        acc = out / unit
        rounded = sites.accumulator(acc, lambda a: a * unit, operands=(gx, gy))
    else:
        # encrypted x clear: Concrete-ML rounds qx @ qw (the data operand's zero point kept)
        data_first = fx
        offset_in = jnp.ones_like(xq if data_first else yq) * (zx if data_first else zy)
        offset = (jax.lax.dot_general(offset_in, yq / sy, **eqn.params) if data_first
                  else jax.lax.dot_general(xq / sx, offset_in, **eqn.params))
        acc = out / unit + offset
        rounded = sites.accumulator(acc, lambda a: (a - offset) * unit,
                                    output=id(eqn) in sites.outputs,
                                    operands=(gx if data_first else gy,))
    return out if rounded is None else _ste(out, rounded)


def _rounded_sum(eqn, x, grid, sites: _Sites):
    """An encrypted sum with its accumulator rounded as Concrete-ML does (QuantizedReduceSum
    rounds the integer sum of (q - zp) to rounding_bits, unless the sum is the output)."""
    total = eqn.primitive.bind(x, **eqn.params)
    if sites.n_bits is None or sites.rounding_bits is None:
        return total
    scale = jax.lax.stop_gradient(grid[0])
    rounded = sites.accumulator(total / scale, lambda a: a * scale,
                                output=id(eqn) in sites.outputs, operands=(grid,))
    return total if rounded is None else _ste(total, rounded)


def _eval(jaxpr: _jaxpr.Jaxpr, consts, args, sites: _Sites, outer=None):
    """Evaluate jaxpr on (value, depends_on_data, grid or None) triples, inserting the
    circuit's quantisers; `grid` marks values that are a quantiser's output. `outer`: the name
    stack of the equation calling this sub-jaxpr (whose own stacks start afresh)."""
    def rule(eqn, ins):
        # Under the equation's Flax module path, so the quantisers are named after the layer.
        stack = _jaxpr.name_stack(eqn, outer)
        with _jaxpr.user_context(eqn, stack):
            return _equation(eqn, ins, sites, stack)

    return _jaxpr.interpret(jaxpr, consts, args, rule, constant=lambda c: (c, False, None))


def _equation(eqn, ins, sites: _Sites, stack=None) -> list:
    """One equation on (value, depends_on_data, grid) triples (`stack`: its name stack)."""
    data = any(f for _, f, _ in ins)
    name = eqn.primitive.name
    closed = _jaxpr.sub_jaxpr(eqn)
    if closed is not None and data:
        return _eval(closed.jaxpr, closed.consts, ins, sites, outer=stack)
    if name == "dot_general" and data:
        value, grid = _product(eqn, ins, sites)
        return [(value, True, grid)]
    if name in ("add", "sub") and all(f for _, f, _ in ins):  # residual: two encrypted values
        (a, _), (b, _) = (sites.activation(v, g) for v, _, g in ins)
        return [(sites.rescale(a, b, 1.0 if name == "add" else -1.0), True, None)]
    if name == "reduce_sum" and data:
        x, grid = sites.activation(ins[0][0], ins[0][2])
        return [(_rounded_sum(eqn, x, grid, sites), True, None)]
    res = eqn.primitive.bind(*[v for v, _, _ in ins], **eqn.params)
    res = res if eqn.primitive.multiple_results else [res]
    moved = ins[0][2] if name in _MOVES and ins else None
    return [(r, data, moved) for r in res]


def export_ranges(ranges) -> list:
    """Ranges as plain floats (JSON for the manifest)."""
    return [[float(lo), float(hi)] for lo, hi in np.asarray(ranges, np.float64)]
