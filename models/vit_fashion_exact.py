"""Exact ViT on Fashion-MNIST (softmax, LayerNorm, GELU): the twin of vit_fashion_poly.

Same architecture (vit-mini/7), data, optimizer and step budget as the polynomial model.

Command:  polyzoo train vit_fashion_exact
Runtime:  see `train_time_s` in checkpoints/manifest.json (2 shared CPU cores)
Metric:   test accuracy in checkpoints/manifest.json and checkpoints/vit-fashion-exact/README.md
"""
from polyzoo.train.recipe import Recipe, Stage

RECIPE = Recipe(
    name="vit-fashion-exact",
    model="vit-mini/7",
    dataset="fashion_mnist",
    batch_size=128,
    stages=(Stage("scratch", "exact", steps=1500, lr=1e-3, warmup=100, weight_decay=0.05),),
)
