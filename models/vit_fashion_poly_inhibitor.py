"""vit_fashion_poly with inhibitor attention.

Manhattan-distance scores and ReLU inhibition, no product of two encrypted values (Brännvall &
Stoian 2023, arXiv 2310.02041). The recipe of vit_fashion_poly with only its attention site
changed (`with_attention`, ATTENTION_MENU['inhibitor']).

Command:  polyzoo train vit_fashion_poly_inhibitor
Runtime:  about 150 min here (16,000 steps, 236 images/s in the run that finished, which
          resumed at step 1,200 and shared the 2 CPU cores with a baseline refit for 20
          minutes; then calibration)
Metric:   91.79% test accuracy (9,179 / 10,000): 0.77 points above the exact twin (91.02%)
          and 0.71 above pointwise GELU attention (vit-fashion-poly, 91.08%); ahead of the
          256-unit MLP fitted on the same split (89.30%); 12,238 of 439M site inputs out of
          range on the test split (12,056 of them at layer_1/mlp/act); card:
          models/cards/vit-fashion-poly-inhibitor.md
"""
from polyzoo.nn import ATTENTION_MENU
from polyzoo.recipes import vit_fashion_poly
from polyzoo.zoo.recipe import with_attention

RECIPE = with_attention(vit_fashion_poly.RECIPE, ATTENTION_MENU['inhibitor'],
                        'inhibitor')
