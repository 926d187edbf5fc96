"""FHE-sized micro ViT on MNIST for the export path: 4 tokens (patch 14), width 8, 1 layer.

Spec 'polyzoo' (every site one univariate function, i.e. one TFHE lookup): minimax GELU
(degree 8) in the MLP, scaled pointwise ReLU attention as a degree-8 polynomial (Zimerman
et al. ICML 2024), BatchNorm (fold it with polyzoo.models.fold_batchnorms before export).
Stages as vit_fashion_poly: range-aware training with the exact functions, then calibrated
polynomials fine-tuned in the forward pass. Quantisation-aware fine-tuning for a given
bit-width belongs to the export path (polyzoo/export/qat.py) and starts from this entry.

Command:  polyzoo train vit_micro_mnist
Runtime:  1.3 min here (2 shared CPU cores)
Metric:   90.45% test accuracy (2,000 digits), 8 out-of-range site inputs;
          card: models/cards/vit-micro-mnist.md
"""
from polyzoo.zoo.recipe import Recipe, Stage

RECIPE = Recipe(
    name="vit-micro-mnist",
    model="vit-micro",
    dataset="mnist",
    batch_size=128,
    stages=(
        Stage("range_aware", "polyzoo", steps=1200, lr=3e-3, warmup=100, weight_decay=1e-4,
              range_weight=0.1, calibrate=False, reference=True),
        Stage("polynomial", "polyzoo", steps=300, lr=5e-4, warmup=30, weight_decay=1e-4,
              range_weight=0.1, calibrate=True, calibrate_margin=0.25),
    ),
    final_margin=0.05,
)
