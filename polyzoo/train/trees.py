"""Pytree helpers for checkpoints: flat path names, loud merges, compact storage dtypes."""
from __future__ import annotations

from typing import Any, Mapping

import jax
import numpy as np

PyTree = Any


def flatten(tree: Mapping, prefix: str = "") -> dict[str, Any]:
    """{'params': {'dense': {'kernel': x}}} -> {'params/dense/kernel': x}."""
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "/"))
        else:
            out[name] = value
    return out


def unflatten(flat: Mapping[str, Any]) -> dict:
    tree: dict = {}
    for name, value in flat.items():
        *parents, leaf = name.split("/")
        node = tree
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return tree


def _shape(x) -> tuple[int, ...]:
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def mismatch_message(expected: set[str], got: set[str], what: str) -> str | None:
    """A two-sided list of names: in `expected` only, and in `got` only (None if equal)."""
    only_expected, only_got = sorted(expected - got), sorted(got - expected)
    if not only_expected and not only_got:
        return None
    return (f"{what}: names mismatch.\n  only in the model ({len(only_expected)}): "
            f"{', '.join(only_expected) or '-'}\n  only in the checkpoint ({len(only_got)}): "
            f"{', '.join(only_got) or '-'}")


def check_structure(expected: Mapping, got: Mapping, what: str = "checkpoint") -> None:
    """Raise ValueError when names or shapes differ between two variable trees."""
    fe, fg = flatten(expected), flatten(got)
    msg = mismatch_message(set(fe), set(fg), what)
    if msg:
        raise ValueError(msg)
    bad = [f"{k}: model {_shape(fe[k])} vs checkpoint {_shape(fg[k])}"
           for k in fe if _shape(fe[k]) != _shape(fg[k])]
    if bad:
        raise ValueError(f"{what}: shapes mismatch:\n  " + "\n  ".join(bad))


def merge(base: Mapping, overlay: Mapping, what: str = "checkpoint merge") -> dict:
    """`base` with the leaves of `overlay` replaced; every overlay name must exist in base."""
    fb, fo = flatten(base), flatten(overlay)
    unknown = sorted(set(fo) - set(fb))
    if unknown:
        raise ValueError(mismatch_message(set(fb), set(fo) | set(fb), what)
                         or f"{what}: unknown names {unknown}")
    bad = [f"{k}: base {np.shape(fb[k])} vs overlay {np.shape(fo[k])}"
           for k in fo if np.shape(fb[k]) != np.shape(fo[k])]
    if bad:
        raise ValueError(f"{what}: shapes mismatch:\n  " + "\n  ".join(bad))
    return unflatten({**fb, **fo})


def to_storage(variables: Mapping, dtype: str, collections: tuple[str, ...] = ("params",)) -> dict:
    """float32 leaves of `collections` cast to `dtype` ('float16', 'bfloat16' or 'float32')."""
    target = np.dtype(jax.numpy.dtype(dtype))

    def cast(path, x):
        x = np.asarray(x)
        top = getattr(path[0], "key", None)
        return x.astype(target) if top in collections and x.dtype == np.float32 else x

    return jax.tree_util.tree_map_with_path(cast, dict(variables))


def to_float32(tree: PyTree) -> PyTree:
    """Every floating leaf as float32 numpy (restoring what `to_storage` compacted)."""
    def up(x):
        x = np.asarray(x)
        return x.astype(np.float32) if np.issubdtype(x.dtype, np.floating) or \
            x.dtype == jax.numpy.bfloat16 else x
    return jax.tree.map(up, tree)
