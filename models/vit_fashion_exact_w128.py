"""vit_fashion_exact at twice the width: 128 wide, MLP 256 (4 heads of 32).

The width-64 twin does not fit its own training set (91.97% on the 55,000 training images
without augmentation, 91.02% test), so it is capacity-bound; this recipe doubles the width and
changes nothing else (data, shifts, optimizer, 16,000 steps of 128). Probed alone on this host
for 128 steps: 331 images/s against 564 at width 64.

Command:  polyzoo train vit_fashion_exact_w128
Runtime:  not trained yet (about 105 min of steps alone on 2 CPU cores, by the probe)
Metric:   not trained yet
"""
import dataclasses

from polyzoo.recipes import vit_fashion_exact

WIDTH = {"hidden": 128, "mlp_dim": 256}

RECIPE = dataclasses.replace(vit_fashion_exact.RECIPE, name="vit-fashion-exact-w128",
                             overrides={**vit_fashion_exact.RECIPE.overrides, **WIDTH})
