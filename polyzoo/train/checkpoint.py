"""orbax I/O for variable pytrees and training states: the only module that imports orbax.

A checkpoint is a directory written by orbax (OCDBT + zarr, no pickle). `file_hashes`
gives the sha256 of every file in it; `restore(..., expected=hashes)` verifies them all
before reading anything, so a tampered or truncated checkpoint is refused whole.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import jax
import numpy as np

PyTree = Any


class ChecksumError(ValueError):
    """A checkpoint's files differ from the sha256 recorded in the manifest."""


def _checkpointer():
    import orbax.checkpoint as ocp  # imported late: `polyzoo --help` stays fast

    # Every call is this process's alone: a multi-process run writes from process 0 only
    # (host copies of replicated arrays) and each process restores by itself, so orbax must
    # not wait at a barrier for processes that never make the same call.
    me = jax.process_index()
    mp = ocp.options.MultiprocessingOptions(primary_host=me, active_processes={me},
                                            barrier_sync_key_prefix=f"polyzoo-p{me}")
    return ocp, ocp.Checkpointer(ocp.PyTreeCheckpointHandler(multiprocessing_options=mp),
                                 multiprocessing_options=mp)


def save(path: str | os.PathLike, tree: PyTree, *, overwrite: bool = True) -> dict[str, str]:
    """Write `tree` (numpy or jax arrays, any dtype) to `path`; returns its file hashes."""
    path = Path(path).resolve()
    if path.exists():
        if not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ocp, ckptr = _checkpointer()
    tree = jax.tree.map(np.asarray, tree)  # host copies: also gathers sharded arrays
    ckptr.save(path, tree)
    return file_hashes(path)


def restore(path: str | os.PathLike, template: PyTree | None = None, *,
            expected: dict[str, str] | None = None) -> PyTree:
    """Read a checkpoint as numpy arrays (into `template`'s structure when given).

    `expected` (relative path -> sha256) is checked first; any difference raises
    `ChecksumError` and nothing is read.
    """
    path = Path(path).resolve()
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such checkpoint directory")
    if expected is not None:
        verify(path, expected)
    ocp, ckptr = _checkpointer()
    if template is None:
        meta = ckptr.metadata(path)
        meta = getattr(meta, "item_metadata", meta)
        meta = getattr(meta, "tree", meta)
        restore_args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), meta)
        return ckptr.restore(path, restore_args=restore_args)
    restore_args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), template)
    return ckptr.restore(path, item=template, restore_args=restore_args)


def file_hashes(path: str | os.PathLike) -> dict[str, str]:
    """sha256 of every file under `path`, keyed by its path relative to `path` (sorted)."""
    path = Path(path)
    return {str(f.relative_to(path)): sha256(f)
            for f in sorted(path.rglob("*")) if f.is_file()}


def sha256(file: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(file, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(path: str | os.PathLike, expected: dict[str, str]) -> None:
    """Raise `ChecksumError` listing every missing, extra or altered file."""
    got = file_hashes(path)
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    altered = sorted(k for k in set(got) & set(expected) if got[k] != expected[k])
    if missing or extra or altered:
        parts = [f"{label}: {', '.join(names)}" for label, names in
                 (("missing", missing), ("unexpected", extra), ("altered", altered)) if names]
        raise ChecksumError(f"checkpoint {path} does not match its manifest sha256 "
                            f"({'; '.join(parts)}); refusing to load it. Restore the files "
                            "(e.g. `git checkout -- checkpoints/`) or re-run the recipe.")
