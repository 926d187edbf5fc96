"""ViT (pre-norm, global average pooling) for small images, nonlinearities per ApproxSpec."""
from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from polyzoo.models._config import VitConfig, site_names
from polyzoo.models._layers import Block
from polyzoo.nn import ApproxSpec, make_norm


class Vit(nn.Module):
    """ViT (pre-norm, no class token, mean over tokens) whose nonlinearities follow `spec`.

    images (B, H, W, C) float32 -> logits (B, num_classes), or the pooled features (B, hidden)
    when num_classes is 0. reference=True evaluates every polynomial site by its exact
    function (calibration, range-aware training).
    """
    config: VitConfig
    spec: ApproxSpec
    reference: bool = False  # evaluate every polynomial by its exact function

    def site_names(self) -> tuple[str, ...]:
        """The model's nonlinearity sites in forward order (`polyzoo.models.site_names`)."""
        return site_names(self.config)

    @nn.compact
    def __call__(self, images, train: bool = False):
        """images (B, H, W, C) float32 -> logits (B, num_classes) (features (B, D) if 0)."""
        c = self.config
        self.spec.check_sites(site_names(c))
        if images.ndim != 4 or images.shape[1:] != c.image_size or images.dtype != jnp.float32:
            size = ', '.join(map(str, c.image_size))
            raise ValueError(f'{c.name}: images must be float32 (batch, {size}), '
                             f'got {images.dtype} {images.shape}')
        b, (h, w, ch), p = images.shape[0], c.image_size, c.patch
        x = images.reshape(b, h // p, p, w // p, p, ch).transpose(0, 1, 3, 2, 4, 5)
        x = x.reshape(b, c.num_tokens, p * p * ch)  # (B, N, p*p*C)
        x = nn.Dense(c.hidden, name='embed')(x)
        pos = self.param('pos_embedding', nn.initializers.normal(0.02),
                         (1, c.num_tokens, c.hidden), jnp.float32)
        x = x + pos
        for i in range(c.num_layers):
            block = Block(c.hidden, c.heads, c.mlp_dim, c.eps, self.spec, prenorm=True,
                          dropout=c.dropout, reference=self.reference, name=f'layer_{i}')
            x = block(x, None, train)
            if not self.is_initializing():  # keep activations out of init's variables
                self.sow('hidden', f'layer_{i}_out', x)
        x = make_norm(self.spec.site('final_norm'), eps=c.eps, reference=self.reference,
                      name='final_norm')(x, train)
        x = jnp.sum(x, axis=1) * (1.0 / c.num_tokens)  # (B, D) mean over tokens
        if not c.num_classes:
            return x
        return nn.Dense(c.num_classes, name='head')(x)
