"""FHE-sized micro BERT for sentiment: 1 layer, hidden 16, 2 heads, 16 tokens.

Trained from scratch on the Rotten Tomatoes snippets (first 16 WordPiece tokens) with the
task loss only: logit distillation from MiniLM would add a MiniLM forward pass to every step,
more than 2 shared CPU cores allow here. Polynomial throughout except the client-side embeddings: minimax GELU (degree 8),
scaled pointwise ReLU attention as a degree-8 polynomial, THE-X's learned affine in place of
LayerNorm (Chen et al. 2022); range loss on every site; intervals calibrated before the
polynomial stage.

Command:  polyzoo train bert_micro_sentiment
Runtime:  1.2 min here (2 shared CPU cores)
Metric:   66.92% test accuracy (1,309 snippets); card: models/cards/bert-micro-sentiment.md
"""
from polyzoo.nn import ApproxSpec, Poly, Site
from polyzoo.train.recipe import Recipe, Stage

SPEC = ApproxSpec(
    act=Site("poly", poly=Poly("gelu", 8, (-8.0, 8.0))),
    softmax=Site("pointwise", fn="relu", poly=Poly("relu", 8, (-8.0, 8.0))),
    norm=Site("affine"),
    name="micro-bert-poly",
)

RECIPE = Recipe(
    name="bert-micro-sentiment",
    model="bert-micro",
    dataset="sentiment",
    task="sentiment classification (fresh / rotten)",
    max_len=16,
    batch_size=64,
    stages=(
        Stage("range_aware", SPEC, steps=1200, lr=2e-3, warmup=100, weight_decay=0.01,
              range_weight=0.1, calibrate=False, reference=True),
        Stage("polynomial", SPEC, steps=300, lr=3e-4, warmup=30, weight_decay=0.01,
              range_weight=0.1, calibrate=True, calibrate_margin=0.25),
    ),
    final_margin=0.05,
)
