"""Translate a JAX function's jaxpr into an ONNX opset-14 graph that Concrete-ML 1.9.0 accepts.

The function is traced with a symbolic batch dimension `b`, so every shape in the graph is a
constant except the leading batch axis (written -1 in Reshape targets). Equations whose inputs
are all constants (parameters, Chebyshev-to-power conversions, BatchNorm statistics) are
evaluated here and become initializers; only the encrypted data path becomes ONNX nodes. Every
node is named after the Flax module path that produced it, so Concrete-ML's per-tag statistics
give PBS counts per layer.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import onnx
from jax import export as jax_export
from onnx import TensorProto, helper, numpy_helper

from polyzoo import _jaxpr
from polyzoo._jaxpr import location as _location
from polyzoo.export._unsupported import explain

OPSET = 14
"""The ONNX opset of every exported graph: the only one Concrete-ML 1.9.0 takes."""
QUANT_DOMAIN = "onnx.brevitas"  # Concrete-ML's QAT import reads Brevitas' Quant nodes
_QUANT_PRIMITIVE = "polyzoo_quant"  # polyzoo.export.qat.quant (kept in sync by a test)
# Ops that move values without changing them: a per-tensor quantiser commutes with them, and
# Concrete-ML's QAT import wants the Quant node before them (they re-quantise otherwise).
_SHAPE_OPS = ("Reshape", "Transpose", "Squeeze", "Unsqueeze", "Expand", "Slice", "Identity")
# JAX primitives that are one ONNX node on the same operands.
_ELEMENTWISE = {"add": "Add", "sub": "Sub", "mul": "Mul", "erf": "Erf", "tanh": "Tanh",
                "logistic": "Sigmoid", "abs": "Abs", "sign": "Sign"}


class UnsupportedOperation(ValueError):
    """A primitive that cannot go into a TFHE circuit; the message names layer and remedy."""


@dataclasses.dataclass(frozen=True)
class Traced:
    """An ONNX value name plus the JAX aval it stands for (shape may hold the symbol b)."""
    name: str
    shape: tuple
    dtype: Any


def _is_symbolic(dim) -> bool:
    return not isinstance(dim, (int, np.integer))


def _shape_const(shape: Sequence) -> np.ndarray:
    """Reshape target: the one symbolic (batch-carrying) entry becomes -1."""
    symbolic = [i for i, d in enumerate(shape) if _is_symbolic(d)]
    if len(symbolic) > 1:
        raise UnsupportedOperation(f"reshape to {tuple(shape)} mixes the batch axis into more "
                                   "than one dimension; keep the batch axis separate")
    return np.array([-1 if _is_symbolic(d) else int(d) for d in shape], np.int64)


class _Builder:
    """Collects nodes and initializers; one instance per export."""

    def __init__(self):
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.producer: dict[str, onnx.NodeProto] = {}  # value name -> the node computing it
        self.quantized: dict[tuple, str] = {}  # (value, grid) -> its Quant output (shared)
        self._count = 0

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value, hint: str = "c") -> str:
        arr = np.asarray(value)
        if arr.dtype.kind == "f":
            arr = arr.astype(np.float32)
        elif arr.dtype.kind in "iub":
            arr = arr.astype(np.int64)
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(arr, name))
        return name

    def node(self, op: str, inputs: Sequence[str], where: str, **attrs) -> str:
        out = self.fresh(op.lower())
        # Node names become Concrete tags: the layer path, then the op (no '.' allowed there).
        name = f"{where.replace('.', '_')}:{op}_{self._count}"
        node = helper.make_node(op, list(inputs), [out], name=name, **attrs)
        self.nodes.append(node)
        self.producer[out] = node
        return out

    def replay(self, node: onnx.NodeProto, first_input: str) -> str:
        """A copy of `node` reading `first_input` instead of its first input."""
        self._count += 1
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copy.input[0] = first_input
        copy.output[0] = f"{node.op_type.lower()}_{self._count}"
        copy.name = f"{node.name.split(':')[0]}:{node.op_type}_{self._count}"
        self.nodes.append(copy)
        self.producer[copy.output[0]] = copy
        return copy.output[0]

    def prune(self, outputs: Sequence[str]) -> None:
        """Drop nodes whose results nothing reads, then initializers nothing reads."""
        while True:
            used = set(outputs) | {i for n in self.nodes for i in n.input}
            kept = [n for n in self.nodes if any(o in used for o in n.output)]
            if len(kept) == len(self.nodes):
                break
            self.nodes = kept
        used = {i for n in self.nodes for i in n.input}
        self.initializers = [i for i in self.initializers if i.name in used]


class _Translator:
    def __init__(self, builder: _Builder):
        self.b = builder

    # ---- values -----------------------------------------------------------------------------
    def name_of(self, value) -> str:
        """ONNX name of a Traced value or of a constant (made an initializer)."""
        if isinstance(value, Traced):
            return value.name
        return self.b.const(value)

    # ---- jaxpr walk -------------------------------------------------------------------------
    def run(self, jaxpr: _jaxpr.Jaxpr, consts: Sequence, args: Sequence, outer: str = "") -> list:
        """Translate `jaxpr`; `outer`: the module path of the equation that calls it."""
        return _jaxpr.interpret(jaxpr, consts, args,
                                lambda eqn, ins: self.equation(eqn, ins, outer),
                                constant=np.asarray)

    def equation(self, eqn, ins: list, outer: str = "") -> list:
        prim = eqn.primitive.name
        where = _jaxpr.module_path(eqn, outer)
        if prim == _QUANT_PRIMITIVE:  # before constant folding: weights get Quant nodes too
            aval = eqn.outvars[0].aval
            return [Traced(self.op_quant(eqn, ins, where), tuple(aval.shape), aval.dtype)]
        static_out = all(not _is_symbolic(d) for v in eqn.outvars for d in v.aval.shape)
        if not any(isinstance(x, Traced) for x in ins) and static_out:
            # Constant folding: evaluate on the host, exactly as JAX would.
            with jax.ensure_compile_time_eval():
                res = eqn.primitive.bind(*[jnp.asarray(x) for x in ins], **eqn.params)
            res = res if eqn.primitive.multiple_results else [res]
            return [np.asarray(r) for r in res]
        closed = _jaxpr.sub_jaxpr(eqn)
        if closed is not None:
            return self.run(closed.jaxpr, closed.consts, ins,
                            "" if where == "<top level>" else where)
        if prim in _ELEMENTWISE:  # one ONNX node, same operands
            out = self.b.node(_ELEMENTWISE[prim], [self.name_of(x) for x in ins], where)
        else:
            handler = getattr(self, f"op_{prim}", None)
            if handler is None:
                raise UnsupportedOperation(f"{explain(prim, where)} [{_location(eqn)}]")
            out = handler(eqn, ins, where)
        aval = eqn.outvars[0].aval
        if isinstance(out, Traced):
            return [out]
        if isinstance(out, str):
            return [Traced(out, tuple(aval.shape), aval.dtype)]
        return [Traced(o, tuple(v.aval.shape), v.aval.dtype) for o, v in zip(out, eqn.outvars)]

    # ---- elementwise ------------------------------------------------------------------------

    def op_div(self, eqn, ins, where):
        x, y = ins
        if not isinstance(y, Traced):
            return self.b.node("Mul", [self.name_of(x), self.b.const(1.0 / np.asarray(y))], where)
        if isinstance(x, Traced):  # encrypted / encrypted: not a function of one value
            raise UnsupportedOperation(f"{explain('div', where)} [{_location(eqn)}]")
        # constant / encrypted is univariate: Concrete-ML makes it one table lookup
        return self.b.node("Div", [self.b.const(np.asarray(x, np.float32)), self.name_of(y)], where)

    def op_neg(self, eqn, ins, where):
        return self.b.node("Neg", [self.name_of(ins[0])], where)

    def op_integer_pow(self, eqn, ins, where):
        y = float(eqn.params["y"])
        return self.b.node("Pow", [self.name_of(ins[0]), self.b.const(np.float32(y))], where)

    def op_square(self, eqn, ins, where):
        return self.b.node("Pow", [self.name_of(ins[0]), self.b.const(np.float32(2.0))], where)

    def op_pow(self, eqn, ins, where):
        x, y = ins
        if isinstance(y, Traced):
            raise UnsupportedOperation(f"{explain('pow', where)} [{_location(eqn)}]")
        return self.b.node("Pow", [self.name_of(x), self.b.const(y)], where)

    def _extremum(self, eqn, ins, where, op):
        traced = [x for x in ins if isinstance(x, Traced)]
        consts = [x for x in ins if not isinstance(x, Traced)]
        if len(consts) == 1 and np.ndim(consts[0]) == 0:
            c = float(consts[0])
            x = traced[0].name
            if op == "Max":  # max(x, c) = relu(x - c) + c
                if c == 0.0:
                    return self.b.node("Relu", [x], where)
                shifted = self.b.node("Sub", [x, self.b.const(np.float32(c))], where)
                return self.b.node("Add", [self.b.node("Relu", [shifted], where),
                                           self.b.const(np.float32(c))], where)
            # min(x, c) = c - relu(c - x)
            gap = self.b.node("Sub", [self.b.const(np.float32(c)), x], where)
            return self.b.node("Sub", [self.b.const(np.float32(c)),
                                       self.b.node("Relu", [gap], where)], where)
        return self.b.node(op, [self.name_of(x) for x in ins], where)

    def op_max(self, eqn, ins, where):
        return self._extremum(eqn, ins, where, "Max")

    def op_min(self, eqn, ins, where):
        return self._extremum(eqn, ins, where, "Min")

    def op_clamp(self, eqn, ins, where):
        lo, x, hi = ins
        if isinstance(lo, Traced) or isinstance(hi, Traced):
            raise UnsupportedOperation(f"clamp with encrypted bounds at {where}")
        return self.b.node("Clip", [x.name, self.b.const(np.float32(lo)),
                                    self.b.const(np.float32(hi))], where)

    def op_erfc(self, eqn, ins, where):  # erfc(x) = 1 - erf(x)
        erf = self.b.node("Erf", [ins[0].name], where)
        return self.b.node("Sub", [self.b.const(np.float32(1.0)), erf], where)

    def op_select_n(self, eqn, ins, where):
        pred, *cases = ins
        if len(cases) != 2 or isinstance(pred, Traced):
            raise UnsupportedOperation(f"select on an encrypted condition at {where} "
                                       f"[{_location(eqn)}]: use relu/polynomial forms")
        # select_n(p, a, b) = b where p else a
        return self.b.node("Where", [self.b.const(np.asarray(pred, bool)),
                                     self.name_of(cases[1]), self.name_of(cases[0])], where)

    # ---- quantisers --------------------------------------------------------------------------
    def op_quant(self, eqn, ins, where):
        """polyzoo.export.qat.quant -> one onnx.brevitas.Quant node (scale, zero point and
        bit-width initialisers), placed before any shape-only ops that lead to its input."""
        x, scale, zero_point = ins
        if isinstance(scale, Traced) or isinstance(zero_point, Traced):
            raise UnsupportedOperation(f"quantiser with an encrypted scale or zero point at "
                                       f"{where} [{_location(eqn)}]")
        p = eqn.params
        grid = (float(np.asarray(scale)), float(np.asarray(zero_point)), int(p["bits"]),
                int(p["signed"]), int(p["narrow"]))
        name = x.name if isinstance(x, Traced) else self.b.const(x, "w")
        return self._quantize(name, grid, where)

    def _quantize(self, name: str, grid: tuple, where: str) -> str:
        key = (name, grid)
        if key in self.b.quantized:
            return self.b.quantized[key]
        node = self.b.producer.get(name)
        if node is not None and node.op_type in _SHAPE_OPS:
            out = self.b.replay(node, self._quantize(node.input[0], grid, where))
        else:
            scale, zero_point, bits, signed, narrow = grid
            out = self.b.node("Quant", [name, self.b.const(np.float32(scale), "scale"),
                                        self.b.const(np.float32(zero_point), "zero_point"),
                                        self.b.const(np.float32(bits), "bit_width")],
                              where, domain=QUANT_DOMAIN, rounding_mode="ROUND",
                              signed=signed, narrow=narrow)
        self.b.quantized[key] = out
        return out

    # ---- identities -------------------------------------------------------------------------
    def _identity(self, eqn, ins, where):
        if isinstance(ins[0], Traced):
            return Traced(ins[0].name, tuple(eqn.outvars[0].aval.shape), eqn.outvars[0].aval.dtype)
        return self.b.node("Identity", [self.name_of(ins[0])], where)

    op_copy = op_copy_p = op_stop_gradient = op_optimization_barrier = _identity
    op_sharding_constraint = op_reduce_precision = _identity

    def op_convert_element_type(self, eqn, ins, where):
        if not np.issubdtype(eqn.params["new_dtype"], np.floating):
            raise UnsupportedOperation(f"conversion of encrypted values to "
                                       f"{eqn.params['new_dtype']} at {where} [{_location(eqn)}]")
        return self._identity(eqn, ins, where)

    # ---- shapes -----------------------------------------------------------------------------
    def op_reshape(self, eqn, ins, where):
        if eqn.params.get("dimensions") is not None:
            raise UnsupportedOperation(f"reshape with dimensions= at {where}")
        target = self.b.const(_shape_const(eqn.params["new_sizes"]), "shape")
        return self.b.node("Reshape", [self.name_of(ins[0]), target], where)

    def op_transpose(self, eqn, ins, where):
        return self.b.node("Transpose", [self.name_of(ins[0])], where,
                           perm=list(eqn.params["permutation"]))

    def op_squeeze(self, eqn, ins, where):
        axes = self.b.const(np.array(eqn.params["dimensions"], np.int64), "axes")
        return self.b.node("Squeeze", [self.name_of(ins[0]), axes], where)

    def op_broadcast_in_dim(self, eqn, ins, where):
        """Insert unit axes, then expand the static axes; the batch axis broadcasts implicitly."""
        x = ins[0]
        shape = eqn.params["shape"]
        dims = eqn.params["broadcast_dimensions"]
        in_shape = x.shape if isinstance(x, Traced) else np.shape(x)
        unit = [1] * len(shape)
        for src, dst in enumerate(dims):
            unit[dst] = in_shape[src]
        target = [1 if _is_symbolic(d) else int(d) for d in shape]
        if not isinstance(x, Traced):  # a constant against a symbolic shape: broadcast it here
            value = np.broadcast_to(np.reshape(x, [int(u) for u in unit]), target)
            return self.b.node("Identity", [self.b.const(value)], where)
        name = x.name
        if tuple(unit) != tuple(x.shape):
            name = self.b.node("Reshape", [name, self.b.const(_shape_const(unit), "shape")], where)
        if any(not _is_symbolic(u) and u != t for u, t in zip(unit, target)):
            name = self.b.node("Expand", [name, self.b.const(np.array(target, np.int64))], where)
        return name

    def op_concatenate(self, eqn, ins, where):
        return self.b.node("Concat", [self.name_of(x) for x in ins], where,
                           axis=int(eqn.params["dimension"]))

    def op_slice(self, eqn, ins, where):
        starts = eqn.params["start_indices"]
        limits = eqn.params["limit_indices"]
        strides = eqn.params["strides"] or (1,) * len(starts)
        axes = [i for i, (s, l, d) in enumerate(zip(starts, limits, ins[0].shape))
                if _is_symbolic(d) or s != 0 or l != d or strides[i] != 1]
        pick = lambda seq: np.array([int(seq[i]) for i in axes], np.int64)  # noqa: E731
        return self.b.node("Slice", [ins[0].name, self.b.const(pick(starts)),
                                     self.b.const(pick(limits)), self.b.const(np.array(axes)),
                                     self.b.const(pick(strides))], where)

    def op_gather(self, eqn, ins, where):
        """Basic indexing (x[:, 1:], x[:, 0]) with a symbolic batch traces to a gather with one
        constant start vector: that is a Slice (and a Squeeze for collapsed axes)."""
        x, idx = ins
        dn = eqn.params["dimension_numbers"]
        out_rank = len(eqn.outvars[0].aval.shape)
        if (isinstance(idx, Traced) or np.ndim(idx) != 1 or dn.operand_batching_dims
                or tuple(dn.offset_dims) != tuple(range(out_rank))):
            raise UnsupportedOperation(f"{explain('gather', where)} [{_location(eqn)}]")
        sizes = eqn.params["slice_sizes"]
        axes = list(dn.start_index_map)
        starts = np.array([int(i) for i in np.asarray(idx)], np.int64)
        ends = starts + np.array([int(sizes[a]) for a in axes], np.int64)
        out = self.b.node("Slice", [x.name, self.b.const(starts), self.b.const(ends),
                                    self.b.const(np.array(axes, np.int64))], where)
        if dn.collapsed_slice_dims:
            axes_c = self.b.const(np.array(dn.collapsed_slice_dims, np.int64), "axes")
            out = self.b.node("Squeeze", [out, axes_c], where)
        return out

    def op_reduce_sum(self, eqn, ins, where):
        axes = self.b.const(np.array(eqn.params["axes"], np.int64), "axes")
        return self.b.node("ReduceSum", [ins[0].name, axes], where, keepdims=0)

    # ---- products ---------------------------------------------------------------------------
    def op_dot_general(self, eqn, ins, where):
        """(lhs, rhs) -> transpose to (batch, free, contract) @ (batch, contract, free) MatMul."""
        (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
        lhs, rhs = ins
        lshape = lhs.shape if isinstance(lhs, Traced) else np.shape(lhs)
        rshape = rhs.shape if isinstance(rhs, Traced) else np.shape(rhs)
        lf = [i for i in range(len(lshape)) if i not in lc and i not in lb]
        rf = [i for i in range(len(rshape)) if i not in rc and i not in rb]
        out_shape = tuple(eqn.outvars[0].aval.shape)
        # Common Dense case, no reshapes: x (..., K) @ W (K, N).
        if not lb and len(lc) == 1 and lc[0] == len(lshape) - 1 and rc == (0,) and len(rshape) == 2:
            return self.b.node("MatMul", [self.name_of(lhs), self.name_of(rhs)], where)
        left = self._arrange(lhs, list(lb) + lf + list(lc), len(lb), lf, lc, lshape, where, True)
        right = self._arrange(rhs, list(rb) + list(rc) + rf, len(rb), rf, rc, rshape, where, False)
        out = self.b.node("MatMul", [left, right], where)
        if len(lb) > 1 or len(lf) != 1 or len(rf) != 1:  # restore batch and free axes
            out = self.b.node("Reshape", [out, self.b.const(_shape_const(out_shape), "shape")],
                              where)
        return out

    def _arrange(self, x, perm, nb, free, contract, shape, where, is_lhs) -> str:
        """x -> (batch, free, contract) for the lhs, (batch, contract, free) for the rhs, with
        all batch axes merged into one: Concrete-ML's encrypted MatMul takes 2-D or 3-D only."""
        batch = [_prod([shape[i] for i in perm[:nb]])] if nb else []
        f = _prod([shape[i] for i in free])
        k = _prod([shape[i] for i in contract])
        target = batch + ([f, k] if is_lhs else [k, f])
        if not isinstance(x, Traced):
            return self.b.const(np.transpose(np.asarray(x), perm).reshape(target))
        name = x.name
        if perm != list(range(len(perm))):
            name = self.b.node("Transpose", [name], where, perm=perm)
        if nb > 1 or len(free) != 1 or len(contract) != 1:
            name = self.b.node("Reshape", [name, self.b.const(_shape_const(target), "shape")],
                               where)
        return name


def _prod(dims):
    out = 1
    for d in dims:
        out = out * d
    return out


def _value_info(name: str, shape: Sequence, dtype=TensorProto.FLOAT):
    dims = ["batch" if _is_symbolic(d) else int(d) for d in shape]
    return helper.make_tensor_value_info(name, dtype, dims)


def trace(fn: Callable, example_inputs: Sequence[np.ndarray]):
    """The closed jaxpr of fn on inputs whose leading axis is a symbolic batch b."""
    (b,) = jax_export.symbolic_shape("b")
    specs = [jax.ShapeDtypeStruct((b,) + tuple(np.shape(x))[1:], jnp.float32)
             for x in example_inputs]
    return jax.make_jaxpr(fn)(*specs)


def to_onnx(fn: Callable, example_inputs: Sequence[np.ndarray] | np.ndarray, *,
            input_names: Sequence[str] | None = None) -> onnx.ModelProto:
    """ONNX opset-14 graph of `fn(*inputs)` (params closed over), batch axis symbolic.

    Raises UnsupportedOperation naming the primitive, the Flax layer and the remedy when the
    function holds an operation that a TFHE circuit cannot take.
    """
    if isinstance(example_inputs, (np.ndarray, jax.Array)):
        example_inputs = (example_inputs,)
    closed = trace(fn, example_inputs)
    names = list(input_names or ([f"x{i}" for i in range(len(example_inputs))]
                                 if len(example_inputs) > 1 else ["x"]))
    builder = _Builder()
    args = [Traced(n, tuple(v.aval.shape), v.aval.dtype)
            for n, v in zip(names, closed.jaxpr.invars)]
    outs = _Translator(builder).run(closed.jaxpr, closed.consts, args)
    out_infos = []
    for i, (out, var) in enumerate(zip(outs, closed.jaxpr.outvars)):
        if not isinstance(out, Traced):
            raise UnsupportedOperation(f"output {i} does not depend on the input")
        name = f"y{i}" if len(outs) > 1 else "y"
        builder.nodes.append(helper.make_node("Identity", [out.name], [name],
                                              name=f"output:Identity_{i}"))
        out_infos.append(_value_info(name, var.aval.shape))
    builder.prune([o.name for o in out_infos])
    graph = helper.make_graph(builder.nodes, "polyzoo",
                              [_value_info(n, a.shape) for n, a in zip(names, args)],
                              out_infos, initializer=builder.initializers)
    opsets = [helper.make_opsetid("", OPSET)]
    if any(n.domain == QUANT_DOMAIN for n in builder.nodes):
        opsets.append(helper.make_opsetid(QUANT_DOMAIN, 1))
    model = helper.make_model(graph, opset_imports=opsets, producer_name="polyzoo")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
