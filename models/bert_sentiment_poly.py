"""Polynomial MiniLM for sentiment by staged distillation from the fine-tuned exact MiniLM.

Teacher and initialisation: the zoo entry bert-sentiment-exact. Two stages, as THE-X (Chen
et al. 2022) found necessary, each distilled MPCFormer-style (Li et al. ICLR 2023: hidden-state
MSE per layer + logit KL) with the range loss (Zimerman et al. ICML 2024):
  1. activations and softmax: minimax GELU (degree 8) and MPCFormer's 2Quad attention
     (s + 5)^2 normalised through a minimax reciprocal (degree 8), LayerNorm still exact
     (400 steps; stored on its own as bert-sentiment-poly-act);
  2. LayerNorm: 1/sqrt(var + eps) as a degree-12 minimax polynomial (relative error) on each
     site's calibrated variance range (Zimerman et al.), every interval recalibrated first
     (80 steps). The variance ranges span up to 800x (layer_0/norm2: [0.19, 160]).
After stage 2 no division, square root or exp is left in the encoder: the client computes only
the embeddings and their LayerNorm. Embeddings stay frozen (client side), so only the encoder
layers and head are stored. 32 tokens, batches of 32, a teacher forward per step.

What else was measured here for stage 2 (test accuracy, 80 steps each):
  - THE-X's affine x*g + b started from the LayerNorm's (g, b): diverged (NaN, 42.5%);
  - the same affine started at the layer-by-layer least-squares fit of each LayerNorm
    (Stage.fit_affine; relative RMS of the fits 7%-45%): no divergence, but 57.5%.
The affine map cannot normalise per token; the polynomial 1/sqrt keeps that normalisation.

Status (2026-12-02): the published entry is NOT what this file trains today. It was trained
by this file at commit 12e1d4b (32 tokens, stage 1 of 400 steps) from the previous
bert-sentiment-exact (75.17%, top two layers fine-tuned); the numbers below are that run's.
From today's exact entry (83.35%, every layer, 48 tokens) stage 1 reaches 81.13%
(bert-sentiment-poly-act), but stage 2 diverges: the loss is NaN within its first 10 steps
(stopped by polyzoo.train.loop.Diverged, nothing published), also with a degree-16 rsqrt,
calibrate_margin 0.3 and lr 2e-5. The variance ranges of the norm2 sites now span up to
800x ([0.19, 159] in layer 0, fit error 27% at degree 12), and the calibrated forward is
already non-finite on some training batches before any step.

Command:  polyzoo train bert_sentiment_poly   (after bert_sentiment_exact)
          Stage 1 is bert_sentiment_poly_act's; the published run resumed it from that run's
          final checkpoint, copied to data/runs/bert-sentiment-poly/act_softmax/ (runs resume
          from data/runs/<name>/<stage>/), so only stage 2 ran in it.
Runtime:  3.3 min here for stage 2 (80 steps at 33 sequences/s with the teacher, 2 CPU
          cores, lightly shared) plus stage 1's 57 min
Metric:   75.10% test accuracy (exact MiniLM 75.17%: -0.08 points; an earlier run of the
          same recipe 74.87%); card: models/cards/bert-sentiment-poly.md
"""
from polyzoo.nn import ApproxSpec, Poly, Site
from polyzoo.zoo.recipe import Recipe, Stage

EMBEDDINGS = ("word_embeddings", "position_embeddings", "token_type_embeddings", "embed_norm")
LAYERS = tuple(f"layer_{i}/" for i in range(6)) + ("head/",)

ACT_SOFTMAX = ApproxSpec(
    act=Site("poly", poly=Poly("gelu", 8, (-8.0, 8.0))),
    softmax=Site("2quad", param=5.0, aux=Poly("reciprocal", 8, (1.0, 100.0))),
    name="minilm-poly-act-softmax",
)
FULL = ApproxSpec(
    act=ACT_SOFTMAX.act, softmax=ACT_SOFTMAX.softmax,
    norm=Site("poly_rsqrt", poly=Poly("rsqrt", 12, (0.1, 100.0))),  # interval: calibrated
    name="minilm-poly",
)
DISTILL = dict(hidden_weight=1.0, logit_weight=1.0, range_weight=0.1, temperature=1.0,
               weight_decay=0.01, frozen=EMBEDDINGS)

RECIPE = Recipe(
    name="bert-sentiment-poly",
    model="bert-minilm",
    dataset="sentiment",
    task="sentiment classification (fresh / rotten)",
    init="zoo:bert-sentiment-exact",
    teacher="zoo:bert-sentiment-exact",
    twin="bert-sentiment-exact",
    max_len=48,
    batch_size=32,
    stages=(Stage("act_softmax", ACT_SOFTMAX, steps=1200, lr=1e-4, warmup=120, **DISTILL),
            Stage("layernorm", FULL, steps=80, lr=5e-5, warmup=8, calibrate=True,
                  calibrate_margin=0.1, **DISTILL)),
    store_only=LAYERS,
    final_margin=None,
)
