"""Training: data, losses, optax loops, checkpoints, distillation and the simple baselines.

The zoo's recipes, which read entries from the zoo (teachers, initialisations) and publish
new ones, live a layer up, in polyzoo.zoo.recipe and polyzoo.zoo.training.

The public API is the sub-modules (imported on demand: `from polyzoo.train import data`):

    data          offline datasets (Fashion-MNIST, MNIST, text corpora) and the user's own files
    losses        task cross-entropy and MPCFormer-style distillation losses
    loop          the optax training loop: one jitted step, data-parallel, resumable
    checkpoint    orbax checkpoints (the only module importing orbax) and sha256 checks
    trees         pytree helpers for checkpoints: flat path names, loud merges, compact dtypes
    affine_norms  LayerNorm -> THE-X affine, initialised layer by layer by least squares
    batchnorm     precise BatchNorm statistics, re-estimated after training
    evaluate      accuracy and out-of-range counts per polynomial site
    baselines     the simple models every zoo entry is reported beside
    mlp           a flat MLP over images, for tests and quick checks
"""

__all__ = ["data", "losses", "loop", "checkpoint", "trees", "affine_norms", "batchnorm",
           "evaluate", "baselines", "mlp"]
