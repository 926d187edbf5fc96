"""vit_fashion_poly with 2Quad attention.

(QK^T/sqrt(d) + 5)^2, normalised by a polynomial reciprocal refined by three Newton steps
(MPCFormer, Li et al. ICLR 2023). The recipe of vit_fashion_poly with only its attention site
changed (`with_attention`, ATTENTION_MENU['2quad']).

Command:  polyzoo train vit_fashion_poly_2quad
Runtime:  not trained yet
Metric:   not trained yet (at an eighth of the budget, in bench/bench_attention_menu.py:
          84.19% test accuracy)
"""
from polyzoo.nn import ATTENTION_MENU
from polyzoo.recipes import vit_fashion_poly
from polyzoo.zoo.recipe import with_attention

RECIPE = with_attention(vit_fashion_poly.RECIPE, ATTENTION_MENU['2quad'],
                        '2quad')
