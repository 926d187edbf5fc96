"""The one jaxpr interpreter of polyzoo, and its only door into JAX internals.

Three passes read a traced forward equation by equation: which operations touch encrypted
values (`polyzoo.models.non_he_ops`), the ONNX translation (`polyzoo.export.to_onnx`) and the
QAT emulation of the circuit (`polyzoo.export.qat`). Each supplies a rule per equation; this
module owns what they share: the environment, literals and constants, the recursion into the
sub-jaxpr of a call (jit, custom_jvp such as jax.nn.relu, custom_vjp) and the Flax module path
an equation came from. `jax._src` is reached only here, so a JAX upgrade that moves it touches
one file.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Sequence

from jax._src import source_info_util
from jax.extend.core import ClosedJaxpr, Jaxpr, JaxprEqn, Literal, Primitive, Var

__all__ = ["ClosedJaxpr", "Jaxpr", "JaxprEqn", "Literal", "Primitive", "Var", "interpret",
           "is_var", "sub_jaxpr", "module_path", "name_stack", "user_context", "location"]

# The parameter holding the callee of pjit / closed_call / custom_jvp_call / custom_vjp_call.
_CALL_PARAMS = ("jaxpr", "call_jaxpr", "fun_jaxpr")
# Flax names the scope of a call to a module's method other than __call__ '<Class>.<method>'
# ('Vit.encode_embedded'); a module's own scope has no '.'.
_METHOD_SCOPE = re.compile(r"^[A-Za-z]\w*\.\w+$")


def interpret(jaxpr: Jaxpr, consts: Sequence, args: Sequence,
              rule: Callable[[JaxprEqn, list], Sequence], *,
              constant: Callable[[Any], Any] = lambda v: v) -> list:
    """Evaluate `jaxpr` on `args`: `rule(eqn, inputs) -> outputs` for each equation in order.

    Values are whatever the pass works on (arrays, ONNX names, flags); `constant` turns a
    literal or a const of the jaxpr into one. A rule that meets a call recurses itself with
    `sub_jaxpr(eqn)` (it decides whether the callee is worth entering)."""
    env: dict = {}

    def read(atom):
        return constant(atom.val) if isinstance(atom, Literal) else env[atom]

    env.update(zip(jaxpr.constvars, map(constant, consts)))
    env.update(zip(jaxpr.invars, args))
    for eqn in jaxpr.eqns:
        outs = rule(eqn, [read(a) for a in eqn.invars])
        env.update(zip(eqn.outvars, outs))
    return [read(a) for a in jaxpr.outvars]


def is_var(atom) -> bool:
    """A variable (not a literal) of a jaxpr."""
    return isinstance(atom, Var)


def sub_jaxpr(eqn: JaxprEqn) -> ClosedJaxpr | None:
    """The jaxpr an equation calls (jit, closed_call, custom_jvp/vjp), closed; None if none."""
    sub = next((eqn.params[k] for k in _CALL_PARAMS if eqn.params.get(k) is not None), None)
    if sub is None:
        return None
    return sub if hasattr(sub, "jaxpr") else ClosedJaxpr(sub, ())


def name_stack(eqn: JaxprEqn, outer=None):
    """The equation's name stack; inside a sub-jaxpr the stack starts afresh, so the calling
    equation's (`outer`) is prefixed."""
    stack = eqn.source_info.name_stack
    if outer is not None and not str(stack).startswith(str(outer)):
        stack = outer + stack
    return stack


def module_path(eqn: JaxprEqn, outer: str = "") -> str:
    """The Flax module path of an equation ('Vit/layer_0/attn/query'), method scopes left out
    (a layer is named alike whichever method reached it); `outer`: the calling equation's path
    inside a sub-jaxpr. '<top level>' outside every module."""
    inner = "/".join(p for p in str(eqn.source_info.name_stack).split("/")
                     if p and not _METHOD_SCOPE.match(p))
    if outer and not inner.startswith(outer):
        inner = f"{outer}/{inner}" if inner else outer
    return inner or "<top level>"


def user_context(eqn: JaxprEqn, stack):
    """Context manager: what JAX traces inside it is attributed to the equation's source line
    and to `stack` (so that values re-traced by a pass keep the layer's name)."""
    return source_info_util.user_context(eqn.source_info.traceback, name_stack=stack)


def location(eqn: JaxprEqn) -> str:
    """'file:line' of the user code that produced the equation."""
    frame = source_info_util.user_frame(eqn.source_info)
    return f"{frame.file_name}:{frame.start_line}" if frame else "unknown source"
