"""FHE-sized micro BERT for sentiment: 1 layer, hidden 16, 2 heads, 16 tokens, distilled.

Trained on the Rotten Tomatoes snippets (first 16 WordPiece tokens) with the task loss plus
logit distillation (Hinton et al.; MPCFormer's logit term) from the zoo's fine-tuned MiniLM
`bert-sentiment-exact`, whose logits are computed once on its own 48-token inputs
(`teacher_logits_once`): the student learns from a teacher that read the whole snippet.
Measured here with the same budget (test accuracy, one run each, from the previous 75.17%
teacher): 66.9% without distillation; with it 70.4% in a sweep run and 68.9% in a published
run (16 tokens; runs vary by about 1.5 points), 65.1% / 66.4% with 8 / 12 tokens (fewer
tokens, cheaper circuit: 6,914 PBS at 8 tokens against 23,042 at 16). From today's 83.35%
teacher: 69.67%, still far below the TF-IDF baseline's 77.23% on the same split.

Polynomial throughout except the client-side embeddings: minimax GELU (degree 8), scaled
pointwise ReLU attention as a degree-8 polynomial, THE-X's learned affine in place of
LayerNorm (Chen et al. 2022); range loss on every site; intervals calibrated before the
polynomial stage. Attention ignores the padding mask (`mask_padding=False`): the encrypted
circuit takes only the client's embeddings (`polyzoo export bert-micro-sentiment`).

Command:  polyzoo train bert_micro_sentiment
Runtime:  2.4 min here (2 shared CPU cores), the teacher's logits included
Metric:   69.67% test accuracy (1,309 snippets); TF-IDF + logistic regression on the same
          split 77.23%: this entry does NOT beat it; card: models/cards/bert-micro-sentiment.md
"""
from polyzoo.nn import ApproxSpec, Poly, Site
from polyzoo.zoo.recipe import Recipe, Stage

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
    overrides={"mask_padding": False},
    teacher="zoo:bert-sentiment-exact",
    teacher_logits_once=True,
    stages=(
        Stage("range_aware", SPEC, steps=1200, lr=2e-3, warmup=100, weight_decay=0.01,
              range_weight=0.1, logit_weight=1.0, temperature=2.0, calibrate=False,
              reference=True),
        Stage("polynomial", SPEC, steps=300, lr=3e-4, warmup=30, weight_decay=0.01,
              range_weight=0.1, logit_weight=1.0, temperature=2.0, calibrate=True,
              calibrate_margin=0.25),
    ),
    final_margin=0.05,
)
