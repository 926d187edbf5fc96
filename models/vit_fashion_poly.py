"""Polynomial ViT on Fashion-MNIST, trained from scratch (Zimerman et al. ICML 2024 style).

BatchNorm instead of LayerNorm, scaled pointwise attention GELU(QK^T/sqrt(d))·V / L instead of
softmax, and degree-8 minimax GELUs (MLP and attention). Two stages in the budget of the exact
twin (1,500 steps of 128 images):
  1. range-aware: the polynomial sites compute their exact function while the range loss keeps
     every site input inside its interval [-8, 8] (1,250 steps);
  2. polynomial: intervals calibrated on training data (measured range + 10% margin), minimax
     refit, then fine-tuned with the polynomials in the forward pass and the range loss (250).
BatchNorm statistics are then re-estimated as medians over training batches (a rare batch
whose polynomial left its interval explodes and would poison a mean). A final calibration
(5% margin) is kept only if validation accuracy does not drop.
Training with the polynomials from step 0 does not learn here (loss stays at ln 10): a
degree-8 polynomial explodes outside its interval, which random init visits.
Exact twin: models/vit_fashion_exact.py (same architecture, budget; softmax, LayerNorm, GELU).

Command:  polyzoo train vit_fashion_poly
Runtime:  see `train_time_s` in checkpoints/manifest.json (2 shared CPU cores)
Metric:   see checkpoints/vit-fashion-poly/README.md (test accuracy vs the exact twin)
"""
from polyzoo.nn import ApproxSpec, Poly, Site
from polyzoo.train.recipe import Recipe, Stage

SPEC = ApproxSpec(
    act=Site("poly", poly=Poly("gelu", 8, (-8.0, 8.0))),
    softmax=Site("pointwise", fn="gelu", poly=Poly("gelu", 8, (-8.0, 8.0))),
    norm=Site("batchnorm"),
    name="vit-poly-gelu8",
)

RECIPE = Recipe(
    name="vit-fashion-poly",
    model="vit-mini/7",
    dataset="fashion_mnist",
    batch_size=128,
    stages=(
        Stage("range_aware", SPEC, steps=1250, lr=1e-3, warmup=100, weight_decay=0.05,
              range_weight=1.0, calibrate=False, reference=True),
        Stage("polynomial", SPEC, steps=250, lr=1e-4, warmup=25, weight_decay=0.05,
              range_weight=1.0, calibrate=True, calibrate_margin=0.1),
    ),
    twin="vit-fashion-exact",
    final_margin=0.05,
)
