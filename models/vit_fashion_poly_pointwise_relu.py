"""vit_fashion_poly with pointwise ReLU attention.

ReLU(QK^T/sqrt(d))·V / L (Zimerman et al. ICML 2024). The recipe of vit_fashion_poly with only
its attention site changed (`with_attention`, ATTENTION_MENU['pointwise-relu']).

Command:  polyzoo train vit_fashion_poly_pointwise_relu
Runtime:  not trained yet
Metric:   not trained yet (at an eighth of the budget, in bench/bench_attention_menu.py:
          86.69% test accuracy)
"""
from polyzoo.nn import ATTENTION_MENU
from polyzoo.recipes import vit_fashion_poly
from polyzoo.zoo.recipe import with_attention

RECIPE = with_attention(vit_fashion_poly.RECIPE, ATTENTION_MENU['pointwise-relu'],
                        'pointwise-relu')
