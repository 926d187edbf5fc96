"""Built-in scalar functions that polyzoo fits (jnp -> jnp, any float dtype).

Module-level functions (not lambdas) so that they hash stably: the compiled fitting kernels are
cached per function, and a new lambda per call would recompile every time.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jax import lax

from polyzoo._names import unknown


def absolute(x):
    return jnp.abs(x)


def relu(x):
    return jnp.maximum(x, jnp.zeros_like(x))


def gelu(x):
    """Exact GELU x * Phi(x) (erf form, as in BERT / MiniLM)."""
    return jax.nn.gelu(x, approximate=False)


def silu(x):
    return x * jax.nn.sigmoid(x)


def exp(x):
    return jnp.exp(x)


def reciprocal(x):
    return 1 / x


def rsqrt(x):
    return lax.rsqrt(x)


def tanh(x):
    return jnp.tanh(x)


def sigmoid(x):
    return jax.nn.sigmoid(x)


def erf(x):
    return jax.scipy.special.erf(x)


def sign(x):
    return jnp.sign(x)


FUNCTIONS: dict[str, Callable] = {
    "abs": absolute,
    "relu": relu,
    "gelu": gelu,
    "silu": silu,
    "exp": exp,
    "reciprocal": reciprocal,
    "rsqrt": rsqrt,
    "tanh": tanh,
    "sigmoid": sigmoid,
    "erf": erf,
    "sign": sign,
}
"""The built-in functions `minimax` fits by name (a 'module:function' path or a callable also
works)."""


def resolve(fn) -> tuple[str, Callable]:
    """A FUNCTIONS name, a 'module:function' path, or a callable -> (name, callable)."""
    if callable(fn):
        return getattr(fn, "__name__", repr(fn)), fn
    if not isinstance(fn, str):
        raise ValueError(f"function must be a name, 'module:function' or a callable, got {fn!r}")
    if fn in FUNCTIONS:
        return fn, FUNCTIONS[fn]
    if ":" in fn:
        import importlib

        module_name, _, attr = fn.partition(":")
        try:
            target = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as err:
            raise ValueError(f"cannot load function {fn!r}: {err}") from None
        if not callable(target):
            raise ValueError(f"{fn!r} is not callable")
        return fn, target
    raise ValueError(unknown("function", fn, FUNCTIONS, ordered=True,
                             also=" (or a 'module:function' path)"))


# Points where a built-in function is not smooth: the Remez exchange evaluates them exactly
# (an error extremum sits on a kink, where parabolic refinement cannot find it).
KINKS: dict[str, tuple[float, ...]] = {"abs": (0.0,), "relu": (0.0,), "sign": (0.0,)}
"""Built-in function name -> the points where it is not smooth (evaluated exactly by Remez)."""
