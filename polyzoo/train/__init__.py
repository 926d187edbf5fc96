"""Training: data, losses, optax loops, recipes, distillation and the simple baselines.

The public API is the sub-modules (imported on demand: `from polyzoo.train import data`):

    data          offline datasets (Fashion-MNIST, MNIST, text corpora) and the user's own files
    losses        task cross-entropy and MPCFormer-style distillation losses
    loop          the optax training loop: one jitted step, data-parallel, resumable
    recipe        a zoo entry as data (model, spec, data, stages) and the function that runs it
    convert       the language recipe on a user's own CSV (`polyzoo convert`)
    affine_norms  LayerNorm -> THE-X affine, initialised layer by layer by least squares
    batchnorm     precise BatchNorm statistics, re-estimated after training
    evaluate      accuracy and out-of-range counts per polynomial site
    baselines     the simple models every zoo entry is reported beside
    mlp           a flat MLP over images, for tests and quick checks
"""

__all__ = ["data", "losses", "loop", "recipe", "convert", "affine_norms", "batchnorm",
           "evaluate", "baselines", "mlp"]
