"""Which primitives of a forward act on input-dependent values (what TFHE export must take)."""
from __future__ import annotations

import jax

from polyzoo import _jaxpr

# Primitives the polynomial forward may apply to encrypted (input-dependent) values.
HE_OPS = frozenset({
    'dot_general', 'add', 'add_any', 'sub', 'mul', 'neg', 'integer_pow', 'square', 'reshape',
    'transpose', 'broadcast_in_dim', 'reduce_sum', 'concatenate', 'slice', 'squeeze',
    'expand_dims', 'convert_element_type', 'copy', 'max', 'pjit', 'custom_jvp_call',
    'custom_vjp_call', 'custom_vjp_call_jaxpr', 'stop_gradient',
})
"""Primitives the polynomial forward may apply to encrypted (input-dependent) values; a
division counts only when its divisor depends on the input (see `non_he_ops`)."""
_DIVISOR_ONLY = 'div'  # allowed when the divisor does not depend on the input


def input_dependent_ops(fn, *args, constant_argnums=()) -> dict[str, int]:
    """{primitive: count} of the operations of fn(*args) that touch input-dependent values.

    Arguments listed in `constant_argnums` (e.g. the variables) are treated as constants:
    operations on them alone (a Chebyshev interval mapped to [-1, 1], a folded statistic) are
    computed once at export and do not count. A division counts as 'div' only when its divisor
    depends on the input; a division of an input by a constant counts as 'div_by_constant'.
    """
    closed = jax.make_jaxpr(fn)(*args)
    flat_args = [jax.tree.leaves(a) for a in args]
    dep_in = [i not in constant_argnums for i, leaves in enumerate(flat_args) for _ in leaves]
    counts: dict[str, int] = {}
    _walk(closed.jaxpr, dep_in, counts)
    return counts


def non_he_ops(fn, *args, constant_argnums=()) -> dict[str, int]:
    """The input-dependent operations of fn(*args) that TFHE export cannot take (empty = ok)."""
    ops = input_dependent_ops(fn, *args, constant_argnums=constant_argnums)
    return {k: v for k, v in ops.items() if k not in HE_OPS and k != 'div_by_constant'}


def _walk(jaxpr, dep_in, counts) -> list[bool]:
    """Whether each output of jaxpr depends on the input, counting input-dependent ops."""
    def rule(eqn, ins):
        sub = _jaxpr.sub_jaxpr(eqn)
        if sub is not None:
            outs = _walk(sub.jaxpr, ins, counts) if any(ins) else [False] * len(eqn.outvars)
        else:
            outs = [any(ins)] * len(eqn.outvars)
        if any(ins):
            name = eqn.primitive.name
            if name == _DIVISOR_ONLY and not ins[1]:
                name = 'div_by_constant'
            if sub is None or name not in HE_OPS:
                counts[name] = counts.get(name, 0) + 1
        return outs

    return _jaxpr.interpret(jaxpr, [False] * len(jaxpr.constvars), dep_in, rule,
                            constant=lambda _: False)
