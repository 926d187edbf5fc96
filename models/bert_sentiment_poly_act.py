"""MiniLM with polynomial activations and softmax, LayerNorm still exact: stage 1 of the
conversion of bert-sentiment-exact, and the start of models/bert_sentiment_poly.py.

Teacher and initialisation: bert-sentiment-exact. Minimax GELU (degree 31) and MPCFormer's
2Quad attention (s + 5)^2 normalised through a minimax reciprocal (degree 15, relative error)
refined by three Newton steps, distilled with hidden-state MSE + logit KL (Li et al. ICLR 2023)
and the range loss (Zimerman et al. ICML 2024), 2,400 steps of 32 (7.6 epochs) at 48 tokens,
then recalibrated with a 5% margin (kept: validation 83.24% -> 83.31%). Not HE-friendly as a
whole: the LayerNorms still divide by sqrt(var). Embeddings stay frozen (the client computes
them), so only the encoder layers and head are stored.

The approximations' accuracy decided it. With GELU degree 8 and a degree-8 reciprocal (no
Newton) the same budget reached 81.44% test: on the calibrated intervals (GELU up to
[-21, 30], the normaliser's mean up to [0.6, 500]) those fits were off by up to 0.50 (GELU)
and 83% (reciprocal, relative). Degree 31 costs the same CKKS depth as degree 16 (5) and is
off by at most 0.053; the reciprocal's 58% becomes 1.3% after three Newton steps, each
squaring the relative error. Budget mattered less: with the degree-8 fits, 400 steps
reached 76.93% test, 1,200 steps 81.13%, 2,400 steps 81.44%.

Command:  polyzoo train bert_sentiment_poly_act   (after bert_sentiment_exact)
Runtime:  about 47 min here (2,400 steps at 30.4 sequences/s with the teacher, then
          calibration and evaluation; 2 CPU cores): the card's 37.0 min is the run that
          resumed at step 400, which the first run had reached after about 10 min
Metric:   84.19% test accuracy (1,102 / 1,309; exact MiniLM 83.35%: +0.84 points; TF-IDF
          baseline on the same split 77.23%); card: models/cards/bert-sentiment-poly-act.md
"""
from polyzoo.nn import ApproxSpec, Poly, Site
from polyzoo.zoo.recipe import Recipe, Stage

EMBEDDINGS = ("word_embeddings", "position_embeddings", "token_type_embeddings", "embed_norm")
LAYERS = tuple(f"layer_{i}/" for i in range(6)) + ("head/",)

ACT_SOFTMAX = ApproxSpec(
    act=Site("poly", poly=Poly("gelu", 31, (-8.0, 8.0))),
    softmax=Site("2quad", param=5.0, aux=Poly("reciprocal", 15, (1.0, 100.0), newton=3)),
    name="minilm-poly-act-softmax",
)
DISTILL = dict(hidden_weight=1.0, logit_weight=1.0, range_weight=0.1, temperature=1.0,
               weight_decay=0.01, frozen=EMBEDDINGS)

RECIPE = Recipe(
    name="bert-sentiment-poly-act",
    model="bert-minilm",
    dataset="sentiment",
    task="sentiment classification (fresh / rotten)",
    init="zoo:bert-sentiment-exact",
    teacher="zoo:bert-sentiment-exact",
    twin="bert-sentiment-exact",
    max_len=48,
    batch_size=32,
    stages=(Stage("act_softmax", ACT_SOFTMAX, steps=2400, lr=1e-4, warmup=240, **DISTILL),),
    store_only=LAYERS,
    final_margin=0.05,
)
