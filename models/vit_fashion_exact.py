"""Exact ViT on Fashion-MNIST (softmax, LayerNorm, GELU): the twin of vit_fashion_poly.

Same architecture (vit-mini/4: 4 layers, width 64, 49 patches of 4x4), data, augmentation,
optimizer and step budget as the polynomial model: 8,000 steps of 128 images (18.6 epochs)
on the training set with every copy shifted by up to 2 pixels (`Stage.shift`, 25 copies),
AdamW, lr 1e-3 with 400 warmup steps and cosine decay, weight decay 0.05. At vit-mini/7 and
1,500 steps without augmentation it reached 86.54%.

Command:  polyzoo train vit_fashion_exact
Runtime:  79 min here (8,000 steps at 216 images/s, 2 CPU cores shared with the polynomial
          twin's training and a MiniLM run)
Metric:   88.03% test accuracy (8,803 / 10,000), behind the 256-unit MLP fitted on the same
          split (89.18%); card: models/cards/vit-fashion-exact.md
"""
from polyzoo.zoo.recipe import Recipe, Stage

RECIPE = Recipe(
    name="vit-fashion-exact",
    model="vit-mini/4",
    dataset="fashion_mnist",
    batch_size=128,
    stages=(Stage("scratch", "exact", steps=8000, lr=1e-3, warmup=400, weight_decay=0.05,
                  shift=2),),
)
