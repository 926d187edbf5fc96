"""vit_fashion_poly at twice the width: 128 wide, MLP 256 (4 heads of 32).

The polynomial twin of vit_fashion_exact_w128: the stages of vit_fashion_poly (range-aware
training, then minimax calibration at degree 24) with the same width change and nothing else.

Command:  polyzoo train vit_fashion_poly_w128
Runtime:  not trained yet (about 115 min of steps alone on 2 CPU cores, by the probe)
Metric:   not trained yet
"""
import dataclasses

from polyzoo.recipes import vit_fashion_poly
from polyzoo.recipes.vit_fashion_exact_w128 import WIDTH

RECIPE = dataclasses.replace(vit_fashion_poly.RECIPE, name="vit-fashion-poly-w128",
                             overrides={**vit_fashion_poly.RECIPE.overrides, **WIDTH},
                             twin="vit-fashion-exact-w128")
