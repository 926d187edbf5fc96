"""The smallest classifier in polyzoo: a flat MLP over images, for tests and quick checks.

It has the same calling convention as the ViT (`model.apply(variables, images, train=...)`),
a BatchNorm (so training carries a 'batch_stats' collection) and dropout (so training needs
an rng), which is all the training loop and the zoo have to handle.
"""
from __future__ import annotations

import flax.linen as nn


class MLP(nn.Module):
    """Flatten, Dense (no bias), BatchNorm, ReLU, dropout, Dense: images -> logits."""

    num_classes: int = 10
    hidden: int = 32
    dropout: float = 0.1

    @nn.compact
    def __call__(self, images, train: bool = False):
        x = images.reshape(images.shape[0], -1)       # (B, H*W*C)
        x = nn.Dense(self.hidden, use_bias=False)(x)  # BatchNorm supplies the bias
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9)(x)
        self.sow("intermediates", "act", x)
        x = nn.relu(x)
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return nn.Dense(self.num_classes)(x)          # (B, num_classes)


def create(name: str = "mlp", *, spec=None, num_classes: int = 10, **overrides) -> MLP:
    """Factory with the `polyzoo.models.create` signature ('mlp' is the only name)."""
    if name != "mlp":
        raise ValueError(f"unknown model {name!r}: polyzoo.train.mlp only builds 'mlp'")
    return MLP(num_classes=num_classes, **overrides)
