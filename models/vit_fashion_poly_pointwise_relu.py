"""vit_fashion_poly with pointwise ReLU attention.

ReLU(QK^T/sqrt(d))·V / L (Zimerman et al. ICML 2024). The recipe of vit_fashion_poly with only
its attention site changed (`with_attention`, ATTENTION_MENU['pointwise-relu']).

Command:  polyzoo train vit_fashion_poly_pointwise_relu
Runtime:  72 min here (16,000 steps at 489 images/s on 2 CPU cores, sharing them with another
          training for the first half hour, then 2 min of calibration)
Metric:   90.91% test accuracy (9,091 / 10,000); exact twin 91.02%; ahead of the 256-unit MLP
          fitted on the same split (89.30%); 24,330 of 823M site inputs out of range on the
          test split; validation 91.84% on the exact forward, 90.30% calibrated at degree 24
          (a polynomial ReLU is coarse at its kink), 90.64% after the final calibration;
          card: models/cards/vit-fashion-poly-pointwise-relu.md
"""
from polyzoo.nn import ATTENTION_MENU
from polyzoo.recipes import vit_fashion_poly
from polyzoo.zoo.recipe import with_attention

RECIPE = with_attention(vit_fashion_poly.RECIPE, ATTENTION_MENU['pointwise-relu'],
                        'pointwise-relu')
