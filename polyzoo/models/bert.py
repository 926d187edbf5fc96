"""BERT (post-norm, as HF BertModel) whose nonlinearities follow an ApproxSpec.

Split for encryption: `embed` (plaintext, run by the client: token + position + type embeddings
and their exact LayerNorm, with `chunk` > 1 concatenated in runs of `chunk` words, and with
`chunk_on_client` mapped back to `hidden` by `chunk_proj`) and
`encode_embedded` (the encoder and head: the encrypted part).
"""
from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from polyzoo.models._config import BertConfig, site_names
from polyzoo.models._layers import Block
from polyzoo.nn import ApproxSpec, LayerNorm


class Bert(nn.Module):
    """BERT (post-norm, as Hugging Face's BertModel) whose nonlinearities follow `spec`.

    `__call__(input_ids, mask, train, token_type_ids)` is `encode_embedded(embed(...), mask,
    train)`: `embed` is the plaintext part (the client's under encryption), `encode_embedded`
    the encoder and head. reference=True evaluates every polynomial site by its exact function
    (calibration, range-aware training).
    """
    config: BertConfig
    spec: ApproxSpec
    reference: bool = False  # evaluate every polynomial by its exact function

    def setup(self):
        c = self.config
        self.spec.check_sites(site_names(c))
        init = nn.initializers.normal(0.02)
        self.word_embeddings = nn.Embed(c.vocab_size, c.embed_dim or c.hidden,
                                        embedding_init=init)
        if c.embed_dim:
            self.embed_proj = nn.Dense(c.hidden, use_bias=False)
        if c.word_delta:
            self.word_delta = nn.Embed(c.vocab_size, c.hidden,
                                       embedding_init=nn.initializers.zeros)
        self.position_embeddings = nn.Embed(c.max_positions, c.hidden, embedding_init=init)
        self.token_type_embeddings = nn.Embed(c.type_vocab_size, c.hidden, embedding_init=init)
        self.embed_norm = LayerNorm(eps=c.eps)
        for i in range(c.num_layers):
            setattr(self, f'layer_{i}', Block(c.hidden, c.heads, c.mlp_dim, c.eps, self.spec,
                                              prenorm=False, dropout=c.dropout,
                                              reference=self.reference,
                                              attention_dim=c.attention_dim))
        if c.chunk > 1:
            self.chunk_proj = nn.Dense(c.hidden)
        if c.num_classes:
            self.head = nn.Dense(c.num_classes)

    def site_names(self) -> tuple[str, ...]:
        """The model's nonlinearity sites in forward order (`polyzoo.models.site_names`)."""
        return site_names(self.config)

    def embed(self, input_ids, token_type_ids=None):
        """input_ids (B, S) int -> embeddings (B, S, H) after the embedding LayerNorm, or
        with `chunk` > 1 (B, S / chunk, chunk * H): each run of chunk words side by side,
        (B, S / chunk, H) with `chunk_on_client` (that run through `chunk_proj`)."""
        c = self.config
        _check_ids(input_ids, 'input_ids', c)
        b, s = input_ids.shape
        if s % c.chunk:
            raise ValueError(f'{c.name}: {s} tokens do not split into runs of chunk={c.chunk}; '
                             f'pad or truncate to a multiple of {c.chunk}')
        if token_type_ids is None:
            token_type_ids = jnp.zeros((b, s), jnp.int32)
        _check_ids(token_type_ids, 'token_type_ids', c, shape=(b, s))
        words = self.word_embeddings(input_ids)
        if c.embed_dim:
            words = self.embed_proj(words)
        if c.word_delta:
            words = words + self.word_delta(input_ids)
        x = (words
             + self.position_embeddings(jnp.arange(s, dtype=jnp.int32))[None]
             + self.token_type_embeddings(token_type_ids))
        x = self.embed_norm(x)
        if c.chunk == 1:
            return x
        x = x.reshape(b, s // c.chunk, c.chunk * c.hidden)
        return self.chunk_proj(x) if c.chunk_on_client else x

    def encode_embedded(self, x, mask=None, train: bool = False):
        """x (B, S, H) float as `embed` returns it (B, S, chunk * H with chunk > 1 and the
        projection left to the circuit), mask (B, S) float 0/1 per token -> logits (B, C), or
        (B, S, H) if no head."""
        c = self.config
        in_circuit = c.chunk > 1 and not c.chunk_on_client  # chunk_proj runs here
        width = c.chunk * c.hidden if in_circuit else c.hidden
        if x.ndim != 3 or x.shape[-1] != width or not jnp.issubdtype(x.dtype, jnp.floating):
            raise ValueError(f'{c.name}: embeddings must be float (batch, seq, {width}), '
                             f'got {x.dtype} {x.shape}')
        b, s, _ = x.shape
        if mask is None:
            mask = jnp.ones((b, s), x.dtype)
        if mask.shape != (b, s) or mask.dtype != x.dtype:
            raise ValueError(f'{c.name}: mask must be {x.dtype} 0/1 of shape {(b, s)} '
                             f'(one per token), got {mask.dtype} {mask.shape}')
        if in_circuit:
            x = self.chunk_proj(x)
        mask4 = mask.reshape(b, 1, 1, s) if c.mask_padding else None
        for i in range(c.num_layers):
            x = getattr(self, f'layer_{i}')(x, mask4, train)
            if not self.is_initializing():  # keep activations out of init's variables
                self.sow('hidden', f'layer_{i}_out', x)
        if not c.num_classes:
            return x
        if c.pool == 'cls':
            pooled = x[:, 0]
        elif c.pool == 'avg':
            pooled = jnp.sum(x, axis=1) * (1.0 / s)
        else:
            pooled = jnp.sum(x * mask[:, :, None], axis=1) / jnp.sum(mask, axis=1, keepdims=True)
        return self.head(pooled)

    def __call__(self, input_ids, mask=None, train: bool = False, token_type_ids=None):
        """input_ids (B, S) int32, mask (B, S) float32 0/1 -> logits (B, C) (or (B, S, H)).
        With chunk > 1 a token is kept when any of its words is."""
        x = self.embed(input_ids, token_type_ids)
        if mask is not None and self.config.chunk > 1:
            mask = jnp.max(mask.reshape(mask.shape[0], x.shape[1], -1), axis=-1)
        return self.encode_embedded(x, mask, train)


def _check_ids(ids, what, c: BertConfig, shape=None):
    if ids.ndim != 2 or not jnp.issubdtype(ids.dtype, jnp.integer):
        raise ValueError(f'{c.name}: {what} must be integer (batch, seq), got {ids.dtype} '
                         f'{ids.shape}')
    if shape is not None and ids.shape != shape:
        raise ValueError(f'{c.name}: {what} shape {ids.shape} differs from input_ids {shape}')
    if ids.shape[1] > c.max_positions:
        raise ValueError(f'{c.name}: sequence length {ids.shape[1]} exceeds the position table '
                         f'({c.max_positions}); truncate the input to {c.max_positions} tokens')
