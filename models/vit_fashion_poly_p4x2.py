"""Polynomial ViT on Fashion-MNIST with 98 patches of 4x2 pixels: vit_fashion_poly, twice the
tokens.

The recipe of vit_fashion_poly (range-aware training of 16,000 steps, then calibration at
degree 24: BatchNorm, scaled pointwise GELU attention, minimax GELUs) with patches 4 rows by
2 columns (`patch_width` 2), the patching of its exact twin vit_fashion_exact_p4x2, so both
twins share architecture, data and budget.

Command:  polyzoo train vit_fashion_poly_p4x2
Runtime:  not trained yet
Metric:   not trained yet
"""
import dataclasses

from polyzoo.recipes import vit_fashion_poly

RECIPE = dataclasses.replace(
    vit_fashion_poly.RECIPE, name="vit-fashion-poly-p4x2", twin="vit-fashion-exact-p4x2",
    overrides={**vit_fashion_poly.RECIPE.overrides, "patch_width": 2})
