"""The zoo's FHE-sized model: the micro ViT on MNIST, quantisation-aware at 6 bits.

`vit-micro` (4 tokens, patch 14, width 8, 1 layer) with spec `tfhe-relu` (ReLU MLP, pointwise
ReLU attention scaled by 1/L, Zimerman et al. ICML 2024; BatchNorm): under TFHE every
univariate function is one exact table lookup. Float training, then the `finish` step
(polyzoo.export.micro.qat_stage): BatchNorm folded into the following linear layers and
quantisation-aware fine-tuning through Concrete-ML's 6-bit grids with accumulators rounded
to 8 bits (the export defaults). Stored in float32 (the folded float network Concrete-ML
quantises at export: `polyzoo export vit-micro-mnist-qat`, `polyzoo demo`). The manifest
metric is the float accuracy of the stored network; the encrypted (simulated) accuracy is
what `polyzoo export` reports.

Command:  polyzoo train vit_micro_mnist_qat
Runtime:  0.6 min here (2 shared CPU cores; float 13.9 s, QAT 5.3 s, the rest data and eval)
Metric:   92.20% test accuracy (2,000 digits, float forward of the stored network);
          `polyzoo export vit-micro-mnist-qat --n-test 100`: 90% simulated under TFHE (6 bits,
          rounding 8, p_error 0.05), 1298 PBS; card: models/cards/vit-micro-mnist-qat.md
"""
from polyzoo.export.micro import DEFAULT_BITS, DEFAULT_ROUNDING, MODEL, tfhe_spec
from polyzoo.train.recipe import Recipe, Stage

RECIPE = Recipe(
    name="vit-micro-mnist-qat",
    model=MODEL,
    dataset="mnist",
    batch_size=128,
    stages=(
        Stage("float", tfhe_spec(), steps=3000, lr=3e-3, warmup=100, weight_decay=1e-4,
              calibrate=False),
    ),
    final_margin=None,
    storage_dtype="float32",  # the QAT weights sit on the export grid: store them exactly
    finish="polyzoo.export.micro:qat_stage",
    finish_args=dict(n_bits=DEFAULT_BITS, rounding_bits=DEFAULT_ROUNDING, steps=1500, lr=3e-4),
)
