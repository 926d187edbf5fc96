"""Model construction by variant name, and BatchNorm folding for inference."""
from __future__ import annotations

import dataclasses

from polyzoo.models._config import BertConfig, VitConfig, parse
from polyzoo.models.bert import Bert
from polyzoo.models.vit import Vit
from polyzoo.nn import ApproxSpec, Site, fold_batchnorm, get_spec


def create(name: str, *, spec: str | ApproxSpec = 'exact', num_classes: int | None = None,
           **overrides):
    """A model by variant name ('bert-minilm', 'vit-ti/4', ...; see polyzoo.models.VARIANTS).

    spec: an ApproxSpec or a preset name ('exact', 'thex', 'zimerman', 'zimerman-lm',
    'mpcformer', 'polyzoo'). num_classes: head size (None = the config default, 0 = no head).
    overrides: config fields (e.g. max_positions=32, dropout=0.1).
    """
    if num_classes is not None:
        overrides['num_classes'] = num_classes
    return from_config(parse(name, **overrides), spec)


def from_config(config: BertConfig | VitConfig, spec: str | ApproxSpec = 'exact'):
    """A model from a config object (e.g. one read back from a checkpoint)."""
    spec = get_spec(spec)
    cls = Bert if isinstance(config, BertConfig) else Vit
    model = cls(config=config, spec=spec)
    spec.check_sites(model.site_names())
    return model


def fold_batchnorms(model, variables):
    """Merge every inference-mode BatchNorm of a ViT into the Dense layers reading its output.

    norm1 -> attn query/key/value, norm2 -> mlp fc1, final_norm -> head (pre-norm: those are a
    norm's only consumers). Returns (model whose folded sites are 'identity', variables).
    The folded model computes the same function with no division or sqrt left in the graph.
    """
    if not isinstance(model.config, VitConfig):
        raise ValueError('fold_batchnorms needs a pre-norm model (ViT): in post-norm BERT a '
                         'norm output also feeds the residual')
    params = _copy(variables['params'])
    stats = _copy(variables.get('batch_stats', {}))
    eps = 1e-5
    folded = {}
    for site in model.site_names():
        if not model.spec.site(site).behaviour.folds:
            continue
        *parent, leaf = site.split('/')
        if site == 'final_norm':
            if not model.config.num_classes:
                continue  # no linear layer to fold into
            targets = [('head',)]
        elif leaf == 'norm1':
            targets = [(*parent, 'attn', n) for n in ('query', 'key', 'value')]
        else:
            targets = [(*parent, 'mlp', 'fc1')]
        bn_p, bn_s = _get(params, site.split('/')), _get(stats, site.split('/'))
        for t in targets:
            parent_node = _get(params, t[:-1])
            parent_node[t[-1]] = fold_batchnorm(bn_p, bn_s, parent_node[t[-1]], eps)
        _get(params, parent).pop(leaf)
        _get(stats, parent).pop(leaf)
        folded[site] = Site('identity')
    new_vars = dict(variables, params=params)
    if 'batch_stats' in variables:
        new_vars['batch_stats'] = stats
    spec = model.spec.with_overrides(folded)
    new_model = model.clone(spec=dataclasses.replace(spec, name=f'{model.spec.name}+folded'))
    return new_model, new_vars


def _get(tree, keys):
    for k in keys:
        tree = tree[k]
    return tree


def _copy(tree):
    return {k: _copy(v) if isinstance(v, dict) else v for k, v in tree.items()}
