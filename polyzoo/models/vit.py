"""ViT (pre-norm, global average pooling) for small images, nonlinearities per ApproxSpec."""
from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from polyzoo.models._config import VitConfig, site_names
from polyzoo.models._layers import Block
from polyzoo.nn import ApproxSpec, make_activation, make_norm


class ConvStem(nn.Module):
    """3x3 convolution, then the activation site '<name>/act' (VitConfig.stem)."""
    channels: int
    spec: ApproxSpec
    reference: bool = False

    @nn.compact
    def __call__(self, images):  # (B, H, W, C) -> (B, H, W, channels)
        x = nn.Conv(self.channels, (3, 3), padding='SAME', name='conv')(images)
        return make_activation(self.spec.site(f'{self.name}/act'), reference=self.reference,
                               name='act')(x)


class Vit(nn.Module):
    """ViT (pre-norm, no class token, mean over tokens) whose nonlinearities follow `spec`.

    `__call__(images)` = `encode_embedded(embed_patches(images))`: `embed_patches` is the
    patch embedding (after the convolutional stem, if the config has one) plus positions (the
    part a client may compute in the clear, as THE-X's client embeds tokens),
    `encode_embedded` the blocks, final norm, mean and head.
    reference=True evaluates every polynomial site by its exact function (calibration,
    range-aware training).
    """
    config: VitConfig
    spec: ApproxSpec
    reference: bool = False  # evaluate every polynomial by its exact function

    def setup(self):
        c = self.config
        self.spec.check_sites(site_names(c))
        if c.stem:
            self.stem = ConvStem(c.stem, self.spec, reference=self.reference)
        self.embed = nn.Dense(c.hidden)
        self.pos_embedding = self.param('pos_embedding', nn.initializers.normal(0.02),
                                        (1, c.num_tokens, c.hidden), jnp.float32)
        for i in range(c.num_layers):
            setattr(self, f'layer_{i}', Block(c.hidden, c.heads, c.mlp_dim, c.eps, self.spec,
                                              prenorm=True, dropout=c.dropout,
                                              reference=self.reference,
                                              attention_dim=c.attention_dim))
        self.final_norm = make_norm(self.spec.site('final_norm'), eps=c.eps,
                                    reference=self.reference)
        if c.num_classes:
            self.head = nn.Dense(c.num_classes)

    def site_names(self) -> tuple[str, ...]:
        """The model's nonlinearity sites in forward order (`polyzoo.models.site_names`)."""
        return site_names(self.config)

    def embed_patches(self, images):
        """images (B, H, W, C) float32 -> patch embeddings plus positions (B, N, hidden)."""
        c = self.config
        if images.ndim != 4 or images.shape[1:] != c.image_size or images.dtype != jnp.float32:
            size = ', '.join(map(str, c.image_size))
            raise ValueError(f'{c.name}: images must be float32 (batch, {size}), '
                             f'got {images.dtype} {images.shape}')
        x = self.stem(images) if c.stem else images
        b, (h, w, ch), (ph, pw) = x.shape[0], x.shape[1:], c.patch_size
        x = x.reshape(b, h // ph, ph, w // pw, pw, ch).transpose(0, 1, 3, 2, 4, 5)
        x = x.reshape(b, c.num_tokens, ph * pw * ch)  # (B, N, ph*pw*C)
        return self.embed(x) + self.pos_embedding

    def encode_embedded(self, x, train: bool = False):
        """x (B, N, hidden) float -> logits (B, num_classes) (pooled features (B, D) if 0)."""
        c = self.config
        if x.ndim != 3 or x.shape[1:] != (c.num_tokens, c.hidden) or not jnp.issubdtype(
                x.dtype, jnp.floating):
            raise ValueError(f'{c.name}: patch embeddings must be float (batch, '
                             f'{c.num_tokens}, {c.hidden}), got {x.dtype} {x.shape}')
        for i in range(c.num_layers):
            x = getattr(self, f'layer_{i}')(x, None, train)
            if not self.is_initializing():  # keep activations out of init's variables
                self.sow('hidden', f'layer_{i}_out', x)
        x = self.final_norm(x, train)
        x = jnp.sum(x, axis=1) * (1.0 / c.num_tokens)  # (B, D) mean over tokens
        if not c.num_classes:
            return x
        return self.head(x)

    def __call__(self, images, train: bool = False):
        """images (B, H, W, C) float32 -> logits (B, num_classes) (features (B, D) if 0)."""
        return self.encode_embedded(self.embed_patches(images), train)
