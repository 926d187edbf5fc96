"""Exact ViT on Fashion-MNIST (softmax, LayerNorm, GELU): the twin of vit_fashion_poly.

Same architecture (vit-mini/7), data, optimizer and step budget as the polynomial model.

Command:  polyzoo train vit_fashion_exact
Runtime:  4.7 min here (1,500 steps, 756 images/s, 2 CPU cores shared with other jobs)
Metric:   86.54% test accuracy (8,654 / 10,000); card: models/cards/vit-fashion-exact.md
"""
from polyzoo.zoo.recipe import Recipe, Stage

RECIPE = Recipe(
    name="vit-fashion-exact",
    model="vit-mini/7",
    dataset="fashion_mnist",
    batch_size=128,
    stages=(Stage("scratch", "exact", steps=1500, lr=1e-3, warmup=100, weight_decay=0.05),),
)
