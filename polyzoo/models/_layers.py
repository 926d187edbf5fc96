"""Transformer blocks shared by BERT (post-norm) and ViT (pre-norm)."""
from __future__ import annotations

import flax.linen as nn

from polyzoo.nn import ApproxSpec, get_choice, make_activation, make_norm


class Attention(nn.Module):
    """Multi-head self-attention; the site '<path>/softmax' names the attention (its
    choice's `attend`): dot-product with that score normaliser, or inhibitor attention.
    Queries, keys and values are `dim` wide (0: `hidden`), the output `hidden`."""
    hidden: int
    heads: int
    spec: ApproxSpec
    site: str
    reference: bool = False
    dim: int = 0

    @nn.compact
    def __call__(self, x, mask4=None):  # x (B, S, H), mask4 (B, 1, 1, S) or None
        b, s, h = x.shape
        d = self.dim or h
        split = lambda t: t.reshape(b, s, self.heads, d // self.heads)  # (B, S, heads, dh)
        q = split(nn.Dense(d, name='query')(x))
        k = split(nn.Dense(d, name='key')(x))
        v = split(nn.Dense(d, name='value')(x))
        # dot-product attention through the site's normaliser, or the choice's own (inhibitor)
        o = get_choice(self.spec.site(self.site).choice, 'softmax').attend(self, q, k, v, mask4)
        return nn.Dense(h, name='out')(o.reshape(b, s, d))


class Mlp(nn.Module):
    hidden: int
    mlp_dim: int
    spec: ApproxSpec
    site: str
    reference: bool = False

    @nn.compact
    def __call__(self, x):
        y = nn.Dense(self.mlp_dim, name='fc1')(x)
        y = make_activation(self.spec.site(self.site), reference=self.reference, name='act')(y)
        return nn.Dense(self.hidden, name='fc2')(y)


class Block(nn.Module):
    """One encoder layer; its sites are '<name>/attn/softmax', '/norm1', '/mlp/act', '/norm2'."""
    hidden: int
    heads: int
    mlp_dim: int
    eps: float
    spec: ApproxSpec
    prenorm: bool
    dropout: float = 0.0
    reference: bool = False
    attention_dim: int = 0  # 0: hidden

    @nn.compact
    def __call__(self, x, mask4=None, train: bool = False):
        p = self.name
        norm = lambda n: make_norm(self.spec.site(f'{p}/{n}'), eps=self.eps,
                                   reference=self.reference, name=n)
        attn = Attention(self.hidden, self.heads, self.spec, f'{p}/attn/softmax',
                         reference=self.reference, dim=self.attention_dim, name='attn')
        mlp = Mlp(self.hidden, self.mlp_dim, self.spec, f'{p}/mlp/act',
                  reference=self.reference, name='mlp')
        drop = nn.Dropout(self.dropout, deterministic=not train)
        norm1, norm2 = norm('norm1'), norm('norm2')
        if self.prenorm:
            x = x + drop(attn(norm1(x, train), mask4))
            return x + drop(mlp(norm2(x, train)))
        x = norm1(x + drop(attn(x, mask4)), train)
        return norm2(x + drop(mlp(x)), train)
