"""The zoo's training recipes, one module per entry: `polyzoo.recipes.vit_fashion_poly`.

The modules live in `home()/models/` (the repository's models/ directory, or its copy in an
installed wheel; see polyzoo._home); this package's path points there, so recipes import one
another as ordinary Python (`from polyzoo.recipes.bert_sentiment_poly import RECIPE`) and
`polyzoo train NAME` imports `polyzoo.recipes.NAME` (polyzoo.zoo.recipe.load_recipe).
"""
from polyzoo._home import home

__path__ = [str(home() / "models")]
