"""Frozen model configs and named variants parsed from strings (big_vision style).

    'bert-test'   1 layer, hidden 32, 2 heads, FFN 64             (tests)
    'bert-micro'  1 layer, hidden 16, 2 heads, FFN 32, 16 positions (TFHE-sized, ~8 tokens)
    'bert-l3'     paraphrase-MiniLM-L3-v2: 3 layers, 384, 12 heads, FFN 1536
    'bert-minilm' all-MiniLM-L6-v2:        6 layers, 384, 12 heads, FFN 1536
    'vit-test'    1 layer, width 16, 2 heads, patch 7 (16 tokens)
    'vit-micro'   1 layer, width 8, 2 heads, patch 14 (4 tokens)   (TFHE-sized)
    'vit-mini'    4 layers, width 64, 4 heads, patch 4 (49 tokens)
    'vit-ti'      ViT-Tiny: 12 layers, width 192, 3 heads, patch 4 (49 tokens)
A '/P' suffix sets the ViT patch size: 'vit-ti/4', 'vit-micro/7' (16 tokens).
"""
from __future__ import annotations

import dataclasses

from polyzoo._names import unknown


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """A BERT's sizes and options, frozen; `parse('bert-minilm', **overrides)` builds one.

    num_classes 0 means no head: the model returns the last hidden state (B, S, H). pool:
    'cls' (the first token), 'mean' (masked mean over tokens, not exportable) or 'avg' (mean
    over every position, padding included). mask_padding
    False: attention takes [PAD] tokens as any other, so an encrypted circuit needs no mask
    input and no encrypted mask products (the TFHE-sized micro BERT).
    """
    name: str
    num_layers: int
    hidden: int
    heads: int
    mlp_dim: int
    vocab_size: int = 30522
    max_positions: int = 512
    type_vocab_size: int = 2
    eps: float = 1e-12
    num_classes: int = 2  # 0 = no head: the model returns the last hidden state (B, S, H)
    # 'cls' (the first token, a slice), 'mean' (masked mean; not exportable) or 'avg' (mean
    # over every position, padding included: a sum and a constant, exportable)
    pool: str = 'cls'
    dropout: float = 0.0
    # False: attention takes [PAD] tokens as any other (it ignores the mask). An encrypted
    # circuit then needs no mask input and no encrypted mask products; the model learns the
    # padding's embedding instead (the TFHE-sized micro BERT).
    mask_padding: bool = True
    # > 0: factorised word embeddings (ALBERT, Lan et al. 2020): a table of this width, then a
    # linear map to `hidden`, both on the client's side of an encrypted split (`Bert.embed`);
    # a small model can then start from, and keep, MiniLM's 384-wide table.
    embed_dim: int = 0
    # With embed_dim > 0: a per-word table of `hidden` features added after that map, so the
    # wide table can stay frozen (and unstored) while the words still learn the task. It spans
    # every change of the wide table that the map can see, at hidden / embed_dim of its size.
    word_delta: bool = False
    # > 1: fewer, wider tokens. The client concatenates each run of `chunk` consecutive word
    # vectors (after their LayerNorm) into one token of chunk * hidden features, and the
    # encoder starts with a linear map back to `hidden` (`chunk_proj`): attention, whose cost
    # grows with the square of the tokens, sees max_len / chunk of them.
    chunk: int = 1
    # With chunk > 1: the client applies `chunk_proj` too (`Bert.embed` returns one `hidden`
    # vector per token), as a ViT's client applies its patch embedding. The circuit's input
    # shrinks chunk-fold and its widest sums (chunk * hidden terms) leave it; the client
    # learns one more linear map. The float function is the same either way.
    chunk_on_client: bool = False
    # > 0: the width of the queries, keys and values (all heads together) when narrower than
    # `hidden`; 0: `hidden`. Attention's cost under TFHE grows with this width (each inhibitor
    # score and value term is one lookup per channel), the MLP's and residual's do not.
    attention_dim: int = 0

    def __post_init__(self):
        _check_common(self, self.hidden)
        if self.pool not in ('cls', 'mean', 'avg'):
            raise ValueError(f"pool must be 'cls', 'mean' or 'avg', got {self.pool!r}")
        if self.chunk < 1:
            raise ValueError(f'chunk must be a positive number of words per token, '
                             f'got {self.chunk}')
        if self.chunk > 1 and self.pool == 'mean':
            raise ValueError("chunk > 1 takes pool 'cls' or 'avg', not the masked 'mean'")
        if self.chunk_on_client and self.chunk < 2:
            raise ValueError('chunk_on_client moves chunk_proj to the client: it needs chunk > 1')
        if self.word_delta and not self.embed_dim:
            raise ValueError('word_delta adds to factorised word embeddings: set embed_dim > 0 '
                             '(or train the word table itself)')
        if self.embed_dim < 0:
            raise ValueError(f'embed_dim must be 0 (the table is `hidden` wide) or positive, '
                             f'got {self.embed_dim}')


@dataclasses.dataclass(frozen=True)
class VitConfig:
    """A ViT's sizes and options, frozen; `parse('vit-ti/4', **overrides)` builds one.

    Patches are `patch` rows by `patch_width` columns (0: square), each dividing the image
    size; the model sees `num_tokens` = (H / patch)(W / patch_width) of them ('vit-micro/14x7':
    8 tokens of a 28x28 image, which no square patch gives). num_classes 0 means no head: the
    model returns the pooled features (B, hidden).
    """
    name: str
    num_layers: int
    hidden: int
    heads: int
    mlp_dim: int
    patch: int
    image_size: tuple[int, int, int] = (28, 28, 1)
    eps: float = 1e-6
    num_classes: int = 10  # 0 = no head: the model returns the pooled features (B, H)
    dropout: float = 0.0
    # > 0: a convolutional stem (Xiao et al. 2021, "Early convolutions help transformers see
    # better"; Hassani et al. 2021, CCT): a 3x3 convolution to this many channels and the
    # activation site 'stem/act' before the patches are cut, so each patch embedding sees
    # local edges rather than raw pixels. 0: the plain linear patch embedding.
    stem: int = 0
    patch_width: int = 0  # 0: square patches (patch x patch)
    attention_dim: int = 0  # as BertConfig.attention_dim

    def __post_init__(self):
        _check_common(self, self.hidden)
        if self.stem < 0:
            raise ValueError(f'{self.name}: stem must be 0 (no stem) or a number of channels, '
                             f'got {self.stem}')
        h, w, _ = self.image_size
        if self.patch < 1 or self.patch_width < 0 or h % self.patch or w % self.patch_size[1]:
            raise ValueError(f'{self.name}: patches of {self.patch_size[0]}x{self.patch_size[1]} '
                             f'do not tile the image size {self.image_size}')

    @property
    def patch_size(self) -> tuple[int, int]:
        """(rows, columns) of one patch."""
        return self.patch, self.patch_width or self.patch

    @property
    def num_tokens(self) -> int:
        (ph, pw), (h, w, _) = self.patch_size, self.image_size
        return (h // ph) * (w // pw)


def _check_common(cfg, hidden):
    if cfg.num_layers < 1 or hidden < 1 or cfg.heads < 1 or cfg.mlp_dim < 1:
        raise ValueError(f'{cfg.name}: sizes must be positive, got {cfg}')
    if hidden % cfg.heads:
        raise ValueError(f'{cfg.name}: hidden {hidden} is not divisible by heads {cfg.heads}')
    if cfg.attention_dim < 0 or cfg.attention_dim % cfg.heads:
        raise ValueError(f'{cfg.name}: attention_dim must be 0 (the hidden width) or a positive '
                         f'multiple of heads {cfg.heads}, got {cfg.attention_dim}')
    if cfg.num_classes < 0:
        raise ValueError(f'{cfg.name}: num_classes must be >= 0')


BERT_SIZES = {  # layers, hidden, heads, mlp, max positions
    'test': dict(num_layers=1, hidden=32, heads=2, mlp_dim=64, max_positions=64),
    'micro': dict(num_layers=1, hidden=16, heads=2, mlp_dim=32, max_positions=16),
    'l3': dict(num_layers=3, hidden=384, heads=12, mlp_dim=1536, max_positions=512),
    'minilm': dict(num_layers=6, hidden=384, heads=12, mlp_dim=1536, max_positions=512),
}
"""BERT size -> BertConfig fields: 'bert-SIZE' is a variant name."""
VIT_SIZES = {  # layers, width, heads, mlp, default patch
    'test': dict(num_layers=1, hidden=16, heads=2, mlp_dim=32, patch=7),
    'micro': dict(num_layers=1, hidden=8, heads=2, mlp_dim=16, patch=14),
    'mini': dict(num_layers=4, hidden=64, heads=4, mlp_dim=128, patch=4),
    'ti': dict(num_layers=12, hidden=192, heads=3, mlp_dim=768, patch=4),
}
"""ViT size -> VitConfig fields: 'vit-SIZE', 'vit-SIZE/PATCH' or 'vit-SIZE/ROWSxCOLUMNS' is a
variant name."""
VARIANTS = tuple([f'bert-{s}' for s in BERT_SIZES] + [f'vit-{s}' for s in VIT_SIZES])
"""Every variant name `parse` and `create` take (a ViT also takes a '/PATCH' or '/RxC' suffix)."""


def parse(name: str, **overrides) -> BertConfig | VitConfig:
    """A config from a variant name such as 'bert-minilm', 'vit-ti/4' or 'vit-micro/14x7' (+
    field overrides)."""
    family, _, size = name.partition('-')
    size, _, patch = size.partition('/')
    rows, _, columns = patch.partition('x')
    table = {'bert': BERT_SIZES, 'vit': VIT_SIZES}.get(family)
    if table is None or size not in table or (patch and family != 'vit') or (
            patch and not (rows.isdigit() and (columns.isdigit() or patch == rows))):
        raise ValueError(unknown('model variant', name, VARIANTS, ordered=True,
                                 also=" (ViTs take a '/PATCH' or '/ROWSxCOLUMNS' suffix, "
                                      "e.g. 'vit-ti/4', 'vit-micro/14x7')"))
    fields = dict(table[size], name=name)
    if patch:
        fields['patch'] = int(rows)
        fields['patch_width'] = int(columns) if columns else 0
    cls = BertConfig if family == 'bert' else VitConfig
    valid = {f.name for f in dataclasses.fields(cls)}
    bad = set(overrides) - valid
    if bad:
        raise ValueError(f'{name}: unknown config fields {sorted(bad)}; valid: {sorted(valid)}')
    fields.update(overrides)
    return cls(**fields)


def site_names(cfg: BertConfig | VitConfig) -> tuple[str, ...]:
    """Every nonlinearity site of a model, in forward order."""
    out = ['stem/act'] if isinstance(cfg, VitConfig) and cfg.stem else []
    for i in range(cfg.num_layers):
        if isinstance(cfg, VitConfig):  # pre-norm
            out += [f'layer_{i}/norm1', f'layer_{i}/attn/softmax', f'layer_{i}/norm2',
                    f'layer_{i}/mlp/act']
        else:  # post-norm (BERT)
            out += [f'layer_{i}/attn/softmax', f'layer_{i}/norm1', f'layer_{i}/mlp/act',
                    f'layer_{i}/norm2']
    if isinstance(cfg, VitConfig):
        out.append('final_norm')
    return tuple(out)
