"""The circuit, emulated in JAX: a function's jaxpr re-evaluated with Concrete-ML's quantisers
and roundings (`qat.quantized` and the calibration functions of `qat` drive it).

Values travel as (value, depends on the data, grid or None) triples; a grid marks a value that
is a quantiser's output, so that shape moves keep it quantised and Concrete-ML's QAT import
finds one Quant node per site. Every rule below states which Concrete-ML operation it mirrors.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from polyzoo import _jaxpr
from polyzoo.export._quant_spec import QuantSpec
from polyzoo.export._quantiser import _ste, quant_activation, quant_weight

# Primitives that only move values: a quantised value stays quantised through them.
_MOVES = ("reshape", "transpose", "squeeze", "expand_dims", "broadcast_in_dim", "slice",
          "copy", "copy_p", "convert_element_type")


def run(closed: _jaxpr.ClosedJaxpr, args, data_argnums, sites: "Sites") -> list:
    """Evaluate `closed` on args with the quantisers of `sites` (its output products marked)."""
    flagged = _flagged(args, data_argnums)
    sites.outputs = output_products(closed.jaxpr, flagged)
    if sites.input_bits:  # the model input on its own grid, before anything uses it
        flagged = [_input_triple(v, sites) if f else (v, f, g) for v, f, g in flagged]
    return _eval(closed.jaxpr, closed.consts, flagged, sites)


def _input_triple(x, sites: "Sites"):
    """A model input as a (value, data, grid) triple, quantised on its input_bits grid: signed
    symmetric where the spec's signed sites say so (client embeddings), so that the products
    that read it round accumulators without a zero-point offset."""
    value, grid = sites.activation(x, bits=sites.input_bits, signed=sites.signed_at(sites.count))
    return value, True, grid


def _flagged(args, data_argnums):
    """(leaf, is it data, grid None) for every leaf of args."""
    pairs = []
    for i, a in enumerate(args):
        pairs += [(leaf, i in data_argnums, None) for leaf in jax.tree_util.tree_leaves(a)]
    return pairs


def output_products(jaxpr: _jaxpr.Jaxpr, flagged) -> set[int]:
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


def bits_of(lo, hi):
    """Bits of the smallest integer type holding [lo, hi] (concrete Integer.that_can_represent)."""
    lo, hi = jnp.round(lo), jnp.round(hi)
    unsigned = jnp.ceil(jnp.log2(jnp.maximum(hi, jnp.float32(0.0)) + jnp.float32(1.0)))
    signed = jnp.float32(1.0) + jnp.ceil(jnp.log2(jnp.maximum(-lo, hi + jnp.float32(1.0))))
    return jnp.maximum(jnp.where(lo < 0, signed, unsigned), jnp.float32(1.0))


class Sites:
    """Quantisation sites in trace order, for one evaluation. `spec` None only records ranges
    (the float function); `ranges` None measures each site on the batch itself; `emulate`
    adds the roundings Concrete-ML applies inside the circuit; `widen`: {site: factor} for
    calibrated ranges (`qat.headroom_ranges`)."""

    def __init__(self, spec: QuantSpec | None, ranges, emulate: bool, widen=None):
        self.n_bits = spec.bits if spec else None
        self.rounding_bits = spec.rounding_bits if spec else None
        self.product_bits = (spec.product_bits or spec.bits) if spec else None
        self.weight_bits = (spec.weight_bits or spec.bits) if spec else None
        self.input_bits = spec.input_bits if spec else None
        self.signed = spec.signed if spec else ()
        self.ranges, self.emulate, self.seen, self.count = ranges, emulate, [], 0
        self.outputs = set()  # ids of the products that give an output (`output_products`)
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

    def signed_at(self, site: int) -> bool:
        """Whether the spec puts `site` on a signed symmetric grid."""
        return site < len(self.signed) and self.signed[site]

    def activation(self, x, already=None, bits=None, signed=False):
        """(quantised x, its (scale, zero point)) on an unsigned (or `signed` symmetric) grid
        of `bits` (default n_bits); a value already quantised passes as is."""
        if already:
            return x, already
        lo, hi = self._range(x)
        if self.n_bits is None:  # float: no quantiser, but a site (same sites as quantised)
            return x, (lo, hi)
        return self.mark(quant_activation(x, lo, hi, bits or self.n_bits, signed))

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
        lsbs = jnp.maximum(bits_of(lo, hi) - jnp.float32(self.rounding_bits), jnp.float32(0.0))
        step = jnp.exp2(lsbs)
        rounded = jnp.floor(acc_int / step + jnp.float32(0.5)) * step
        self.rounded.append((self.count - 1, tuple(self.site_of(g) for g in operands),
                             jnp.min(rounded), jnp.max(rounded), lsbs))
        return to_float(rounded)


def _product(eqn, ins, sites: Sites):
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
            signed = not (fx and fy) and sites.signed_at(site)
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


def _rounded_sum(eqn, x, grid, sites: Sites):
    """An encrypted sum with its accumulator rounded as Concrete-ML does (QuantizedReduceSum
    rounds the integer sum of (q - zp) to rounding_bits, unless the sum is the output)."""
    total = eqn.primitive.bind(x, **eqn.params)
    if sites.n_bits is None or sites.rounding_bits is None:
        return total
    scale = jax.lax.stop_gradient(grid[0])
    rounded = sites.accumulator(total / scale, lambda a: a * scale,
                                output=id(eqn) in sites.outputs, operands=(grid,))
    return total if rounded is None else _ste(total, rounded)


def _eval(jaxpr: _jaxpr.Jaxpr, consts, args, sites: Sites, outer=None):
    """Evaluate jaxpr on (value, depends_on_data, grid or None) triples, inserting the
    circuit's quantisers; `grid` marks values that are a quantiser's output. `outer`: the name
    stack of the equation calling this sub-jaxpr (whose own stacks start afresh)."""
    def rule(eqn, ins):
        # Under the equation's Flax module path, so the quantisers are named after the layer.
        stack = _jaxpr.name_stack(eqn, outer)
        with _jaxpr.user_context(eqn, stack):
            return _equation(eqn, ins, sites, stack)

    return _jaxpr.interpret(jaxpr, consts, args, rule, constant=lambda c: (c, False, None))


def _equation(eqn, ins, sites: Sites, stack=None) -> list:
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
