"""Recipes: a zoo entry as data (model, spec, data, stages, initialisation, teacher).

A recipe lives in `models/` (home()/models, importable as polyzoo.recipes.NAME) as a module
defining `RECIPE = Recipe(...)`; its docstring gives the command, the runtime here and the
metric it reached. `load_recipe` finds one by name; `with_attention` derives an
attention-menu variant; `polyzoo.zoo.training.run(recipe)` trains and publishes it.
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polyzoo._home import home
from polyzoo._names import unknown

if TYPE_CHECKING:
    from polyzoo.nn import Site


@dataclasses.dataclass(frozen=True)
class Stage:
    """One training stage: the spec it trains, its step budget and learning rate, and the
    weights of its losses (task, range loss, hidden-state and logit distillation)."""

    name: str
    spec: Any                      # preset name or ApproxSpec
    steps: int
    lr: float
    warmup: int = 0
    weight_decay: float = 1e-4
    task_weight: float = 1.0
    range_weight: float = 0.0
    hidden_weight: float = 0.0
    logit_weight: float = 0.0
    temperature: float = 1.0
    frozen: tuple[str, ...] = ()   # param path prefixes that stay fixed, e.g. 'word_embeddings'
    calibrate: bool = True         # refit polynomial intervals on training data first
    reference: bool = False        # train with the exact functions at the polynomial sites
                                   # (range-aware training, Zimerman et al. ICML 2024)
    calibrate_margin: float = 0.1  # polynomial intervals = measured range widened by this
    calibrate_passes: int = 0      # then, in up to this many passes over the first
                                   # POLYNOMIAL_PASS_INPUTS, each widening the first site the
                                   # polynomial forward drives off its interval
                                   # (models.calibrate)
    fit_affine: bool = False       # start each 'affine' norm at the least-squares fit of the
                                   # LayerNorm it replaces, layer by layer (affine_norms.py)
    shift: int = 0                 # images: train on every copy moved by up to this many
                                   # pixels along both axes (data_lib.shifted_copies)
    flip: bool = False             # images: mirror each training image left-right with
                                   # probability 1/2, per batch (data_lib.mirror_half)


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A zoo entry as data: model variant, dataset, stages, initialisation, teacher, and how
    the result is stored; `run(recipe)` trains and publishes it."""

    name: str                      # the zoo entry it produces
    model: str                     # polyzoo.models variant, e.g. 'vit-mini/7'
    dataset: str                   # data_lib.load name or a path (.csv / .npz)
    stages: tuple[Stage, ...]
    batch_size: int = 128
    seed: int = 0
    task: str = "image classification"
    overrides: dict = dataclasses.field(default_factory=dict)  # model config fields
    init: str = "scratch"          # 'scratch', 'minilm', 'zoo:NAME', or 'minilm-words':
                                   # MiniLM's word table alone (a model with embed_dim=384)
    teacher: str | None = None     # 'zoo:NAME' for distillation stages
    teacher_logits_once: bool = False  # True: the teacher's logits are computed once, each
                                   # example at the teacher's own max_len (a short-input
                                   # student learns from a full-input teacher), instead of a
                                   # teacher forward in every step; logit distillation only
    augment: int = 0               # text, teacher_logits_once: this many augmented copies of
                                   # each training text join the training split, labelled by
                                   # the teacher (augmented_train; TinyBERT's transfer set)
    twin: str | None = None        # zoo name of the exact twin (compared in metrics/cards)
    max_len: int = 64              # text: tokens per sequence
    final_margin: float | None = 0.05  # final recalibration margin (None: keep the stage's)
    storage_dtype: str = "bfloat16"
    store_only: tuple[str, ...] = ()   # store only these param prefixes (rest from `init`)
    calib_examples: int = 2048
    finish: str | None = None      # 'polyzoo.<module>:<function>' applied to the trained model
                                   # before it is stored (e.g. folding + QAT), see `run`
    finish_args: dict = dataclasses.field(default_factory=dict)  # its keyword arguments
    recipe_file: str = ""
    command: str = ""


def with_attention(recipe: Recipe, site: Site, suffix: str) -> Recipe:
    """`recipe` with every stage's softmax site replaced by `site`, named `recipe.name-suffix`:
    one row of the attention menu (polyzoo.nn.ATTENTION_MENU) at the recipe's own budget,
    seed and twin. The site's polynomials (`poly`, `aux`) take the degree of each stage's
    activation polynomial (8 where it has none)."""
    def swap(stage: Stage) -> Stage:
        spec = stage.spec
        if isinstance(spec, str):
            raise ValueError(f"stage {stage.name!r} of {recipe.name!r} uses the preset "
                             f"{spec!r}; with_attention needs stages with an ApproxSpec")
        degree = spec.act.poly.degree if spec.act.poly is not None else 8
        s = site
        for field in ("poly", "aux"):
            p = getattr(s, field)
            if p is not None:
                s = dataclasses.replace(s, **{field: dataclasses.replace(p, degree=degree)})
        return dataclasses.replace(stage, spec=dataclasses.replace(
            spec, softmax=s, name=f"{spec.name}-{suffix}"))

    return dataclasses.replace(recipe, name=f"{recipe.name}-{suffix}",
                               stages=tuple(swap(s) for s in recipe.stages))


# ----------------------------------------------------------------------------- loading

def recipe_names() -> list[str]:
    """The zoo's recipes (modules of home()/models, importable as polyzoo.recipes.NAME)."""
    return sorted(p.stem for p in (home() / "models").glob("*.py") if not p.stem.startswith("_"))


def load_recipe(ref: str) -> Recipe:
    """A recipe by name ('vit_fashion_poly': the module polyzoo.recipes.vit_fashion_poly), by
    the name of the entry it trains ('vit-fashion-poly'), or, for a recipe of your own, by file
    path ('my_recipe.py')."""
    path, stem = Path(ref), ref.replace("-", "_")
    names = recipe_names()
    if path.suffix:
        if not path.exists():
            raise FileNotFoundError(f"no recipe file {ref!r}")
        spec = importlib.util.spec_from_file_location(f"polyzoo_recipe_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    elif stem in names:
        module = importlib.import_module(f"polyzoo.recipes.{stem}")  # home()/models/STEM.py
    else:
        raise FileNotFoundError(unknown("recipe", stem, names))
    if not isinstance(getattr(module, "RECIPE", None), Recipe):
        raise ValueError(f"{path} defines no `RECIPE = Recipe(...)`")
    file = Path(module.__file__)
    return dataclasses.replace(module.RECIPE, recipe_file=f"models/{file.name}",
                               command=module.RECIPE.command or f"polyzoo train {file.stem}")
