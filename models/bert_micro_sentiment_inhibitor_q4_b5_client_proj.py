"""bert_micro_sentiment_inhibitor_q4_b5 split one linear map later: the client also applies
the chunk projection (`chunk_on_client`), as the micro ViT's client applies its patch
embedding.

The float network is the same function (same recipe, same seed); only the split moves. The
client sends 8 tokens of 16 numbers instead of 8 of 96, and the circuit loses its widest sums
(96 terms per output of `chunk_proj`, each rounded by a chain of lookups before the first
block). The client learns one more linear map (96 -> 16), as a ViT's client learns its patch
embedding.

Command:  polyzoo train bert_micro_sentiment_inhibitor_q4_b5_client_proj
Runtime:  about 17 min here (2 CPU cores, shared with tests for part of it): the teacher's
          logits on 91,251 texts, 4,000 float steps 197 s, 3,000 QAT steps 22 s
Metric:   77.54% test accuracy (1,309 snippets, float forward of the stored network; 78.07%
          for the float network before QAT, the parent's figure to the digit: the same
          float training); TF-IDF + logistic regression 77.23%.
          Card: models/cards/bert-micro-sentiment-inhibitor-q4-b5-client-proj.md
"""
import dataclasses

from polyzoo.recipes import bert_micro_sentiment_inhibitor_q4_b5 as parent

RECIPE = dataclasses.replace(
    parent.RECIPE, name="bert-micro-sentiment-inhibitor-q4-b5-client-proj",
    overrides={**parent.RECIPE.overrides, "chunk_on_client": True})
