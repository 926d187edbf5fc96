"""MiniLM with polynomial activations and softmax, LayerNorm still exact (stage 1 of
bert_sentiment_poly, stored on its own as the partial conversion).

Teacher and initialisation: bert-sentiment-exact. Minimax GELU (degree 8) and MPCFormer's
2Quad attention (s + 5)^2 normalised through a minimax reciprocal (degree 8), distilled with
hidden-state MSE + logit KL (Li et al. ICLR 2023) and the range loss, 80 steps of 32.
Not HE-friendly as a whole: the LayerNorms still divide by sqrt(var).

Command:  polyzoo train bert_sentiment_poly_act   (after bert_sentiment_exact)
Runtime:  see `train_time_s` in checkpoints/manifest.json (2 shared CPU cores)
Metric:   see models/cards/bert-sentiment-poly-act.md
"""
import dataclasses
import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "bert_sentiment_poly", Path(__file__).with_name("bert_sentiment_poly.py"))
_full = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_full)

RECIPE = dataclasses.replace(_full.RECIPE, name="bert-sentiment-poly-act",
                             stages=_full.RECIPE.stages[:1], command="")
