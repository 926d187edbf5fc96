"""vit_fashion_poly with signed inhibitor attention.

The signed variant of Brännvall & Stoian 2023 (arXiv 2310.02041): Manhattan-distance scores,
and values inhibited in both directions. The recipe of vit_fashion_poly with only its attention
site changed (`with_attention`, ATTENTION_MENU['inhibitor_signed']).

Command:  polyzoo train vit_fashion_poly_inhibitor_signed
Runtime:  138 min of training here (16,000 steps from step 0 at 248 images/s,
          the 2 CPU cores shared with compile probes and tests for part of it), then
          calibration and, on a fresh checkout, the split's first baseline fit (15 min)
Metric:   91.57% test accuracy (9,157 / 10,000): 0.55 points above the exact twin
          (91.02%) and -0.22 against unsigned inhibitor attention (91.79%);
          ahead of the 256-unit MLP fitted on the same split (89.24%); 7,020 of
          439M site inputs out of range on the test split (6,283 at layer_2/mlp/act);
          card: models/cards/vit-fashion-poly-inhibitor-signed.md
"""
from polyzoo.nn import ATTENTION_MENU
from polyzoo.recipes import vit_fashion_poly
from polyzoo.zoo.recipe import with_attention

RECIPE = with_attention(vit_fashion_poly.RECIPE, ATTENTION_MENU['inhibitor_signed'],
                        'inhibitor-signed')
