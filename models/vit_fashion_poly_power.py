"""vit_fashion_poly with power-softmax attention.

(QK^T/sqrt(d))^2 over its mean, normalised by a polynomial reciprocal refined by three Newton
steps (PowerSoftmax, Zimerman et al.; the paper uses powers 4 to 6). The recipe of
vit_fashion_poly with only its attention site changed (`with_attention`,
ATTENTION_MENU['power']).

Command:  polyzoo train vit_fashion_poly_power
Runtime:  125 min here (16,000 steps, 264 images/s in the run that finished, which resumed
          at step 800 and shared the 2 CPU cores with the polyexp entry's training and two
          probes of the exact twin; then calibration)
Metric:   91.02% test accuracy (9,102 / 10,000): level with the exact twin (91.02%), 0.06
          below pointwise GELU attention (vit-fashion-poly, 91.08%); ahead of the 256-unit MLP
          fitted on the same split (89.30%); 137 of 447M site inputs out of range on the test
          split; validation 91.32% on the exact forward after range-aware training, 91.02%
          calibrated, 91.16% after the final calibration. The normaliser's reciprocal spans
          four decades in layers 1-3 ([1e-4, 5]), where three Newton steps leave a maximum fit
          error of 0.76-0.85 (the card's site table); card:
          models/cards/vit-fashion-poly-power.md
"""
from polyzoo.nn import ATTENTION_MENU
from polyzoo.recipes import vit_fashion_poly
from polyzoo.zoo.recipe import with_attention

RECIPE = with_attention(vit_fashion_poly.RECIPE, ATTENTION_MENU['power'],
                        'power')
