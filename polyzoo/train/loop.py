"""The optax training loop: one jitted step, data-parallel over all devices, resumable.

    tx = optimizer(lr, steps)
    state = init_state(variables, tx, seed)
    state, history = fit(model, state, tx, inputs, labels, config, objective, run_dir=...)

`run_steps` is the loop itself (resume, progress bar, logged loss, divergence check,
checkpoints, throughput) for any jitted step and batch function; `fit` runs a flax model's
step on it, and the QAT fine-tuning of `polyzoo.export.micro` its own.

- One jitted step with the state donated; the dropout key is `fold_in(state.rng, step)`,
  so a run is a pure function of (initial state, data, config).
- Data parallel with `jax.sharding`: a 1-D mesh over every device named 'batch'; batches
  are sharded along it, the state is replicated, XLA inserts the gradient all-reduce.
  Multi-host: call `jax.distributed.initialize()` first; each process feeds its own slice
  (`jax.make_array_from_process_local_data`) and the same code runs unchanged.
- The batch of step t depends only on (seed, t): a fixed permutation per epoch. A checkpoint
  of the whole state every `checkpoint_every` steps (orbax, in `run_dir`) therefore resumes
  to bit-identical parameters.
"""
from __future__ import annotations

import dataclasses
import re
import shutil
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from polyzoo.train import losses

PyTree = Any


class TrainState(NamedTuple):
    """The whole training state (a pytree): checkpointed as one, so a run resumes exactly."""

    step: jax.Array        # () int32
    params: PyTree
    extra: PyTree          # the other variable collections: batch_stats, approx, ...
    opt_state: PyTree
    rng: jax.Array         # (2,) uint32 raw key; the step's key is fold_in(rng, step)


@dataclasses.dataclass(frozen=True)
class Objective:
    """What the step minimises: task CE + range loss + MPCFormer distillation."""
    task_weight: float = 1.0
    range_weight: float = 0.0
    range_loss: Callable | None = None      # (intermediates, variables) -> scalar
    hidden_weight: float = 0.0              # hidden-state MSE against the teacher
    logit_weight: float = 0.0               # logit KL against the teacher
    temperature: float = 1.0
    mask_input: int | None = None           # index of the (B, S) mask among the inputs
    # A step whose loss or gradient is not finite leaves the state as it was (metrics
    # 'skipped' = 1): one outlier batch, e.g. an input driving a polynomial off its interval,
    # costs that step instead of the run. For finite steps the result is unchanged, bit for
    # bit. run_steps raises Diverged when most steps of a logging window were skipped.
    skip_nonfinite: bool = True

    @property
    def needs_teacher(self) -> bool:
        return self.hidden_weight > 0 or self.logit_weight > 0


class Diverged(ValueError):
    """Training produced a non-finite loss; nothing from that point was checkpointed."""


@dataclasses.dataclass(frozen=True)
class LoopConfig:
    """Step budget, global batch size (divisible by the device count), seed of the batch
    order, and how often to checkpoint (keeping the last `keep_checkpoints`) and log."""

    steps: int
    batch_size: int
    seed: int = 0
    checkpoint_every: int = 200
    log_every: int = 10
    keep_checkpoints: int = 2


def optimizer(lr: float, steps: int, *, warmup: int = 0, weight_decay: float = 1e-4,
              clip: float = 1.0, frozen: Callable[[str], bool] | None = None):
    """AdamW with linear warmup and cosine decay; `frozen(path)` params get no updates."""
    warmup = max(1, min(warmup, steps // 2))
    schedule = optax.warmup_cosine_decay_schedule(0.0, lr, warmup, max(steps, 2))
    tx = optax.chain(optax.clip_by_global_norm(clip), optax.adamw(schedule,
                                                                  weight_decay=weight_decay))
    if frozen is None:
        return tx

    def labels(params):
        return jax.tree_util.tree_map_with_path(
            lambda p, _: "frozen" if frozen("/".join(k.key for k in p)) else "train", params)

    return optax.multi_transform({"train": tx, "frozen": optax.set_to_zero()}, labels)


def init_state(variables: dict, tx, seed: int = 0) -> TrainState:
    """Step 0 of training `variables['params']` with optimizer `tx` (the other collections
    ride along in `extra`); `seed` makes the dropout key."""
    variables = dict(variables)
    params = variables.pop("params")
    return TrainState(jnp.int32(0), params, variables, tx.init(params),
                      jax.random.key_data(jax.random.key(seed)))


def make_step(model, tx, objective: Objective, teacher_model=None):
    """step(state, batch, teacher_variables) -> (state, metrics); jit it with donate_argnums=0.

    batch: {'inputs': tuple of (B, ...) arrays, 'labels': (B,) int32}.
    """
    def loss_fn(params, state, batch, teacher_variables, key):
        variables = {"params": params, **state.extra}
        mutable = [c for c in ("batch_stats",) if c in state.extra]
        if objective.range_weight > 0:
            mutable.append("intermediates")
        if objective.hidden_weight > 0:
            mutable.append("hidden")
        logits, updates = model.apply(variables, *batch["inputs"], train=True,
                                      rngs={"dropout": key}, mutable=mutable)
        labels = batch["labels"]
        task = losses.cross_entropy(logits, labels)
        loss = objective.task_weight * task
        metrics = {"task": task, "correct": losses.correct(logits, labels)}
        if objective.range_weight > 0:
            rl = objective.range_loss(updates["intermediates"], variables)
            loss = loss + objective.range_weight * rl
            metrics["range"] = rl
        if objective.needs_teacher:
            if "teacher_logits" in batch:  # precomputed soft targets (fit's soft_targets)
                t_logits, t_updates = batch["teacher_logits"], {}
            else:
                t_logits, t_updates = teacher_model.apply(
                    teacher_variables, *batch["inputs"], train=False,
                    mutable=["hidden"] if objective.hidden_weight > 0 else [])
            t_logits = jax.lax.stop_gradient(t_logits)
            if objective.logit_weight > 0:
                kl = losses.logit_kl(logits, t_logits, objective.temperature)
                loss = loss + objective.logit_weight * kl
                metrics["kl"] = kl
            if objective.hidden_weight > 0:
                mask = None if objective.mask_input is None else batch["inputs"][objective.mask_input]
                mse = losses.hidden_mse(updates["hidden"], t_updates["hidden"], mask)
                loss = loss + objective.hidden_weight * mse
                metrics["hidden"] = mse
        new_extra = {**state.extra, **{c: updates[c] for c in ("batch_stats",) if c in updates}}
        metrics["loss"] = loss
        return loss, (metrics, new_extra)

    def apply(grads, state, extra):
        with jax.numpy_dtype_promotion("standard"):  # optax mixes int counts with floats
            updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return TrainState(state.step + 1, params, extra, opt_state, state.rng)

    def step(state: TrainState, batch, teacher_variables):
        key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
        grads, (metrics, extra) = jax.grad(loss_fn, has_aux=True)(
            state.params, state, batch, teacher_variables, key)
        if not objective.skip_nonfinite:
            return apply(grads, state, extra), metrics
        ok = jnp.isfinite(metrics["loss"]) & jnp.isfinite(optax.global_norm(grads))
        metrics["skipped"] = (~ok).astype(jnp.int32)
        new = jax.lax.cond(ok, apply, lambda g, s, e: s._replace(step=s.step + 1),
                           grads, state, extra)
        return new, metrics

    return step


# ----------------------------------------------------------------------------- data

def batch_indices(n: int, batch_size: int, seed: int, step: int) -> np.ndarray:
    """Indices of step `step`'s batch: epoch e uses permutation(seed, e), no partial batches."""
    per_epoch = n // batch_size
    if per_epoch == 0:
        raise ValueError(f"batch size {batch_size} exceeds the {n} training examples")
    epoch, i = divmod(step, per_epoch)
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    return perm[i * batch_size:(i + 1) * batch_size]


def data_mesh() -> Mesh:
    """A 1-D mesh named 'batch' over every device of every process."""
    return Mesh(np.array(jax.devices()), ("batch",))


def shard_batch(batch: PyTree, mesh: Mesh) -> PyTree:
    """Host arrays (this process's slice) -> global arrays sharded along 'batch'."""
    sharding = NamedSharding(mesh, P("batch"))
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), batch)


def to_host(tree: PyTree) -> PyTree:
    """numpy copies of (replicated) arrays; on several hosts each reads its local replica."""
    def get(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable and x.is_fully_replicated:
            return np.asarray(x.addressable_data(0))
        return np.asarray(x)
    return jax.tree.map(get, tree)


def replicate(tree: PyTree, mesh: Mesh) -> PyTree:
    """Fresh replicated copies (never aliases of the caller's arrays, which a step donates)."""
    return jax.device_put(tree, NamedSharding(mesh, P()), may_alias=False)


# ----------------------------------------------------------------------------- checkpoints

_STEP_DIR = re.compile(r"^step_(\d{8})$")


def latest_checkpoint(run_dir: str | Path) -> tuple[int, Path] | None:
    """(step, directory) of the newest completely written checkpoint in `run_dir`, or None."""
    run_dir = Path(run_dir)
    found = sorted((int(m.group(1)), p) for p in run_dir.glob("step_*")
                   if (m := _STEP_DIR.match(p.name)) and (p / "commit_success.txt").exists())
    return found[-1] if found else None


def _save_state(state, step: int, run_dir: Path, keep: int) -> None:
    from polyzoo.train import checkpoint

    if jax.process_index() != 0:  # one writer; every process restores from the shared dir
        return
    checkpoint.save(run_dir / f"step_{step:08d}", to_host(state))
    old = sorted(p for p in run_dir.glob("step_*") if _STEP_DIR.match(p.name))[:-keep]
    for p in old:
        shutil.rmtree(p, ignore_errors=True)


def _restore_state(template, path: Path):
    from polyzoo.train import checkpoint

    host = jax.tree.map(np.asarray, template)
    restored = checkpoint.restore(path, host)
    return jax.tree.map(lambda t, r: jnp.asarray(r, dtype=t.dtype), template, restored)


# ----------------------------------------------------------------------------- the loop

def run_steps(step: Callable, state: PyTree, batch_at: Callable[[int], PyTree],
              config: LoopConfig, *, start: int = 0, run_dir=None, until: int | None = None,
              place: Callable[[PyTree], PyTree] = lambda s: s, progress: bool = True,
              desc: str = "train"):
    """The loop every trainer of polyzoo runs: `state, metrics = step(state, batch_at(t))` for
    t from `start` (the step `state` is at) up to `config.steps` (or `until`), resuming instead
    from the newest checkpoint in `run_dir` when it holds one.

    step: metrics hold 'loss' (and 'correct', counted over config.batch_size examples, for a
    logged accuracy). batch_at(t) must depend only on t (and what it closes over) so a
    resumed run sees the batches an uninterrupted one would. place: applied to the state
    after any restore (e.g. replicate it over the mesh). The whole state is checkpointed every
    `config.checkpoint_every` steps and at the end, after the loss of its window was found
    finite; a non-finite loss raises Diverged, except where the step reports 'skipped' (it
    left the state unchanged, `Objective.skip_nonfinite`): then the window's loss is that of
    the steps applied, and Diverged is raised when more than half of the window was skipped.
    Returns (state on the host, history) as `fit`; history['skipped'] counts the steps this
    call skipped.
    """
    from tqdm.auto import tqdm

    until = config.steps if until is None else min(until, config.steps)
    run_dir = None if run_dir is None else Path(run_dir)
    if run_dir is not None and (found := latest_checkpoint(run_dir)) is not None:
        if found[0] > config.steps:
            raise ValueError(f"{run_dir} holds a checkpoint at step {found[0]}, beyond this "
                             f"run's {config.steps} steps: use a fresh run directory")
        start, state = found[0], _restore_state(state, found[1])
    state = place(state)
    log, window, t_first, t0, skipped = [], [], None, time.perf_counter(), 0
    bar = tqdm(range(start, until), desc=desc, disable=not progress, mininterval=2.0,
               initial=start, total=until)
    for t in bar:
        state, metrics = step(state, batch_at(t))
        window.append(metrics)
        if t == start:
            jax.block_until_ready(state)
            t_first = time.perf_counter()
        if (t + 1) % config.log_every == 0 or t + 1 == until:
            m = to_host(window)
            applied = [w for w in m if not w.get("skipped", 0)]
            skipped += len(m) - len(applied)
            half = 2 * len(applied) >= len(m)
            loss = float(np.mean([w["loss"] for w in applied])) if half else float("nan")
            acc = (float(np.sum([w["correct"] for w in applied])) /
                   (len(applied) * config.batch_size) if "correct" in m[0] and half else None)
            if not np.isfinite(loss):
                # Checked before this step's checkpoint is written, so the run directory
                # keeps only states from before the divergence and a rerun resumes from one.
                last = latest_checkpoint(run_dir) if run_dir is not None else None
                raise Diverged(
                    f"{desc}: the loss became {loss} in steps {t + 2 - len(m)}-{t + 1}"
                    + (f" ({len(m) - len(applied)} of those {len(m)} steps had a non-finite "
                       "loss or gradient and were skipped)" if len(applied) < len(m) else "")
                    + "; training stopped and nothing was published. "
                    + (f"The last good checkpoint is step {last[0]} in {run_dir}. "
                       if last else "No checkpoint of this stage was written. ")
                    + "Lower the stage's lr, raise its warmup, or widen its polynomial "
                    "intervals (calibrate_margin) and run again.")
            log.append((t + 1, loss, acc))
            bar.set_postfix(loss=f"{loss:.4f}", **({} if acc is None else {"acc": f"{acc:.3f}"}),
                            **({"skipped": skipped} if skipped else {}))
            window = []
        if run_dir is not None and ((t + 1) % config.checkpoint_every == 0 or t + 1 == until):
            _save_state(state, t + 1, run_dir, config.keep_checkpoints)
    bar.close()
    jax.block_until_ready(state)
    t_end = time.perf_counter()
    timed = until - start - 1
    throughput = timed * config.batch_size / (t_end - t_first) if timed > 0 else None
    return to_host(state), {"throughput": throughput, "seconds": t_end - t0, "log": log,
                            "start_step": start, "skipped": skipped}


def fit(model, state: TrainState, tx, inputs: tuple[np.ndarray, ...], labels: np.ndarray,
        config: LoopConfig, objective: Objective = Objective(), *, run_dir=None,
        teacher=None, soft_targets: np.ndarray | None = None, until: int | None = None,
        augment: Callable | None = None, progress: bool = True, desc: str = "train"):
    """Train a flax model to `config.steps` (or stop at `until`) on `run_steps`, resuming
    from `run_dir` if it holds a checkpoint. teacher: (model, variables) for distillation, or
    soft_targets: the teacher's logits (N, C) for every training example, computed once
    (logit distillation only). augment(inputs, seed, step) -> inputs: applied to each global
    batch before it is split between processes; a pure function of its arguments, so a
    resumed run still sees the batches of an uninterrupted one. Returns (state, history).

    history: {'throughput': examples/s after the first (compiling) step (None when fewer
    than two steps ran, e.g. resumed at the end), 'seconds': wall
    time of this call, 'log': [(step, loss, accuracy), ...], 'devices', 'start_step'}.
    """
    mesh = data_mesh()
    n_dev = mesh.devices.size
    if config.batch_size % n_dev:
        raise ValueError(f"batch size {config.batch_size} is not divisible by the {n_dev} "
                         "devices of the data-parallel mesh")
    t_model, t_vars = teacher if teacher is not None else (None, {})
    if soft_targets is not None:
        if objective.hidden_weight > 0:
            raise ValueError("hidden-state distillation needs the teacher model, not "
                             "precomputed logits: pass teacher=(model, variables)")
        if soft_targets.ndim != 2 or len(soft_targets) != len(labels):
            raise ValueError(f"soft_targets must be (N, classes) with N = {len(labels)} "
                             f"training examples, got {soft_targets.shape}")
    elif objective.needs_teacher and teacher is None:
        raise ValueError("distillation weights are set but no teacher was given")
    # Outputs pinned replicated: left to itself the partitioner may shard a state leaf over
    # the batch axis, which another process then cannot read back (to_host, checkpoints).
    step_fn = jax.jit(make_step(model, tx, objective, t_model), donate_argnums=0,
                      out_shardings=NamedSharding(mesh, P()))
    t_vars = replicate(t_vars, mesh)
    n = len(labels)
    per_process = config.batch_size // jax.process_count()
    rank = jax.process_index()

    def batch_at(step):
        idx = batch_indices(n, config.batch_size, config.seed, step)
        batch_in = tuple(x[idx] for x in inputs)
        if augment is not None:
            batch_in = augment(batch_in, config.seed, step)
        mine = slice(rank * per_process, (rank + 1) * per_process)
        idx = idx[mine]
        batch = {"inputs": tuple(x[mine] for x in batch_in),
                 "labels": labels[idx].astype(np.int32)}
        if soft_targets is not None:
            batch["teacher_logits"] = np.asarray(soft_targets[idx], np.float32)
        return shard_batch(batch, mesh)

    state, history = run_steps(lambda s, b: step_fn(s, b, t_vars), state, batch_at, config,
                               start=int(np.asarray(state.step)), run_dir=run_dir, until=until,
                               place=lambda s: replicate(s, mesh), progress=progress, desc=desc)
    return state, {**history, "devices": n_dev}


def variables_of(state: TrainState) -> dict:
    """The model variables of `state` ({'params': ..., plus its other collections})."""
    return {"params": state.params, **state.extra}
