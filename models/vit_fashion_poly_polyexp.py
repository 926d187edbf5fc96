"""vit_fashion_poly with polynomial-exp softmax.

A polynomial exp (fitted with absolute error) and a polynomial reciprocal refined by three
Newton steps (THE-X, Chen et al. 2022). The recipe of vit_fashion_poly with only its attention
site changed (`with_attention`, ATTENTION_MENU['polyexp']).

Command:  polyzoo train vit_fashion_poly_polyexp
Runtime:  not trained yet: range-aware training ran (16,000 steps, 131 min shared; validation
          91.58% on the exact forward), then calibration stopped with an error: the polynomial
          forward overflowed before the final BatchNorm (no finite statistic in 32 batches),
          so nothing was published. With 4 polynomial calibration passes it fails the same
          way: in layer 0 the row sums of the polynomial exp reach -0.123 (the absolute-error
          fit goes negative far left of 0), which no reciprocal interval can cover; a positive
          exp (e.g. a squared fit of exp(x/2)) is the fix to try. Rerunning the command
          resumes after the first stage.
Metric:   not trained yet (at an eighth of the budget, in bench/bench_attention_menu.py:
          86.95% test accuracy)
"""
from polyzoo.nn import ATTENTION_MENU
from polyzoo.recipes import vit_fashion_poly
from polyzoo.zoo.recipe import with_attention

RECIPE = with_attention(vit_fashion_poly.RECIPE, ATTENTION_MENU['polyexp'],
                        'polyexp')
