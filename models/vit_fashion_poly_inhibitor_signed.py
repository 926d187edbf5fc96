"""vit_fashion_poly with signed inhibitor attention.

The signed variant of Brännvall & Stoian 2023 (arXiv 2310.02041): Manhattan-distance scores,
and values inhibited in both directions. The recipe of vit_fashion_poly with only its attention
site changed (`with_attention`, ATTENTION_MENU['inhibitor_signed']).

Command:  polyzoo train vit_fashion_poly_inhibitor_signed
Runtime:  not trained yet
Metric:   not trained yet (at an eighth of the budget, in bench/bench_attention_menu.py:
          87.68% test accuracy)
"""
from polyzoo.nn import ATTENTION_MENU
from polyzoo.recipes import vit_fashion_poly
from polyzoo.zoo.recipe import with_attention

RECIPE = with_attention(vit_fashion_poly.RECIPE, ATTENTION_MENU['inhibitor_signed'],
                        'inhibitor-signed')
