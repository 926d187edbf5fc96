"""vit_fashion_poly with power-softmax attention.

(QK^T/sqrt(d))^2 over its mean, normalised by a polynomial reciprocal refined by three Newton
steps (PowerSoftmax, Zimerman et al.; the paper uses powers 4 to 6). The recipe of
vit_fashion_poly with only its attention site changed (`with_attention`,
ATTENTION_MENU['power']).

Command:  polyzoo train vit_fashion_poly_power
Runtime:  not trained yet
Metric:   not trained yet (at an eighth of the budget, in bench/bench_attention_menu.py:
          86.67% test accuracy)
"""
from polyzoo.nn import ATTENTION_MENU
from polyzoo.recipes import vit_fashion_poly
from polyzoo.zoo.recipe import with_attention

RECIPE = with_attention(vit_fashion_poly.RECIPE, ATTENTION_MENU['power'],
                        'power')
