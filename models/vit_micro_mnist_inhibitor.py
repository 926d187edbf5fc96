"""The zoo's most accurate encrypted model: a width-32 micro ViT with inhibitor attention,
its patch embedding computed by the client.

`vit-micro` (4 tokens, patch 14, 1 layer, 2 heads) widened to 32 with an MLP of 64, spec
`tfhe-relu-inhibitor` (`micro.tfhe_spec`): ReLU MLP, BatchNorm, and inhibitor attention
(Brännvall & Stoian 2023, arXiv 2310.02041: Manhattan-distance scores, γ = the head width 16),
so the circuit holds no encrypted x encrypted product. Float training, then the QAT finish of
vit_micro_mnist_qat (same grids: 6-bit activations, 5-bit weights, accumulators rounded to 7
bits) with `client_embeds`: the client computes the patch embedding and positions in the clear
(as THE-X's client embeds tokens) and encrypts the (4, 32) embeddings; the embedding keeps its
float weights, the circuit starts at the block. What the client holds: the embedding matrix
and the position embeddings (docs/results/encrypted.md).

Chosen on bench/bench_micro_frontier.py (accuracy against seconds per configuration, same
recipe): at width 32 the inhibitor circuit has 7,488 PBS against 9,120 for pointwise
dot-product attention, and its emulated circuit was the more accurate (96.10% against 95.20%
on the test split); at width 8 no configuration came near the MLP baseline (92.5% simulated).

Command:  polyzoo train vit_micro_mnist_inhibitor
"""
from polyzoo.export.micro import tfhe_spec
from polyzoo.nn import Site
from polyzoo.recipes import vit_micro_mnist_qat
from polyzoo.zoo.recipe import Recipe, Stage

WIDTH = 32
_parent = vit_micro_mnist_qat.RECIPE

RECIPE = Recipe(
    name="vit-micro-mnist-inhibitor",
    model=_parent.model,
    overrides={"hidden": WIDTH, "mlp_dim": 2 * WIDTH},
    dataset="mnist",
    batch_size=128,
    stages=(
        Stage("float", tfhe_spec(Site("inhibitor", param=float(WIDTH // 2))), steps=3000,
              lr=3e-3, warmup=100, weight_decay=1e-4, calibrate=False),
    ),
    final_margin=None,
    storage_dtype="float32",  # the QAT weights sit on the export grid: store them exactly
    finish="polyzoo.export.micro:qat_stage",
    finish_args={**_parent.finish_args, "client_embeds": True},
)
