"""vit_fashion_poly with 2Quad attention.

(QK^T/sqrt(d) + 5)^2, normalised by a polynomial reciprocal refined by three Newton steps
(MPCFormer, Li et al. ICLR 2023). The recipe of vit_fashion_poly with only its attention site
changed (`with_attention`, ATTENTION_MENU['2quad']).

Command:  polyzoo train vit_fashion_poly_2quad
Runtime:  about 90 min here (16,000 steps, 390 images/s in the run that finished, which
          resumed at step 400 and shared the 2 CPU cores with a width-128 exact ViT's
          training, models/vit_fashion_exact.py; then calibration)
Metric:   90.57% test accuracy (9,057 / 10,000): 0.45 points below the exact twin (91.02%)
          and 0.51 below pointwise GELU attention (vit-fashion-poly, 91.08%); ahead of the
          256-unit MLP fitted on the same split (89.30%); 132 of 447M site inputs out of
          range on the test split (128 of them at layer_0/mlp/act); validation 90.60% on the
          exact forward after range-aware training, 90.52% calibrated; card:
          models/cards/vit-fashion-poly-2quad.md
"""
from polyzoo.nn import ATTENTION_MENU
from polyzoo.recipes import vit_fashion_poly
from polyzoo.zoo.recipe import with_attention

RECIPE = with_attention(vit_fashion_poly.RECIPE, ATTENTION_MENU['2quad'],
                        '2quad')
