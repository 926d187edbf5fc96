"""Reading sites out of variables and intermediates (flat dicts keyed by site path)."""
from __future__ import annotations

from typing import Any, Mapping

from polyzoo.nn import Poly


def _walk(tree: Mapping[str, Any], prefix: str = ''):
    for k, v in tree.items():
        path = f'{prefix}/{k}' if prefix else k
        if isinstance(v, Mapping):
            yield from _walk(v, path)
        else:
            yield path, v


def _collection(tree, name):
    """Accept either a collection or a dict of collections (what apply(mutable=...) returns)."""
    return tree[name] if name in tree else tree


def site_inputs(intermediates) -> dict[str, Any]:
    """{site path: the input it received} from the 'intermediates' collection."""
    tree = _collection(intermediates, 'intermediates')
    return {p[:-len('/input')]: v[-1] for p, v in _walk(tree) if p.endswith('/input')}


def hidden_states(state) -> list[Any]:
    """The per-layer hidden states sown in 'hidden', in layer order."""
    tree = _collection(state, 'hidden')
    items = {p: v[-1] for p, v in _walk(tree)}
    return [items[f'layer_{i}_out'] for i in range(len(items))]


def attention_weights(state) -> dict[str, Any]:
    """{softmax site: attention weights (B, heads, S, S)} from the 'attention' collection."""
    tree = _collection(state, 'attention')
    return {p[:-len('/weights')]: v[-1] for p, v in _walk(tree) if p.endswith('/weights')}


def approx_sites(variables) -> dict[str, tuple[Any, Any]]:
    """{polynomial site path: (cheb (n+1,), interval (2,))} from the 'approx' collection."""
    flat = dict(_walk(variables.get('approx', {})))
    return {p[:-len('/cheb')]: (v, flat[p[:-len('/cheb')] + '/interval'])
            for p, v in flat.items() if p.endswith('/cheb')}


def model_polys(model) -> dict[str, Poly]:
    """{polynomial site path: Poly} of a model (from its config and spec, no variables)."""
    out = {}
    for site in model.site_names():
        for sub, poly in model.spec.site(site).polys().items():
            out[f'{site}/{sub}' if sub else site] = poly
    return out


def set_approx(variables, path: str, cheb, interval):
    """A copy of variables with one polynomial site's coefficients and interval replaced."""
    variables = dict(variables)
    approx = variables['approx'] = _copy(variables['approx'])
    node = approx
    for k in path.split('/'):
        node = node[k]
    node['cheb'], node['interval'] = cheb, interval
    return variables


def _copy(tree):
    return {k: _copy(v) if isinstance(v, Mapping) else v for k, v in tree.items()}
