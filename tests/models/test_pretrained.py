"""Pretrained MiniLM import: mapping table, parity with independent ONNX implementations."""
import jax
import jax.numpy as jnp
import numpy as np
import onnxruntime as ort
import pytest

from polyzoo import models
from polyzoo.models import pretrained as pt

TEXTS = ['This is a test.', 'The movie was surprisingly good, I loved every minute of it!', 'bad',
         'A gripping thriller with a weak third act.',
         'The cast is wonderful but the script lets them down.',
         'I would not recommend this film to anyone.', 'An instant classic.',
         'Boring, long and predictable.', 'The quick brown fox jumps over the lazy dog.',
         'Encrypted inference keeps the server blind to the data.',
         'Polynomial approximations replace the softmax.',
         'What time does the train leave tomorrow morning?']


def _session(package, path):
    return ort.InferenceSession(str(pt.package_file(package, path)),
                                providers=['CPUExecutionProvider'])


def _mean_pool(h, mask):
    return (h * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)


def test_tokenize_pads_and_truncates():
    ids, mask = pt.tokenize(['hello world', 'a ' * 100], max_length=12)
    assert ids.dtype == np.int32 and mask.dtype == np.float32 and ids.shape == (2, 12)
    assert ids[0, 0] == 101 and ids[0, 3] == 102 and mask[0].tolist() == [1] * 4 + [0] * 8
    assert ids[1, -1] == 102 and mask[1].min() == 1  # truncated, ends with [SEP]
    with pytest.raises(ValueError, match='list of texts'):
        pt.tokenize('one string')


def test_l3_last_hidden_state_matches_onnxruntime():
    """paraphrase-MiniLM-L3-v2: weights imported from its fp32 ONNX, compared to that ONNX."""
    model = models.create('bert-l3', num_classes=0)
    variables = pt.load_l3_onnx(model)
    ids, mask = pt.tokenize(TEXTS, 24)
    ours = np.asarray(model.apply(variables, jnp.asarray(ids), jnp.asarray(mask)))
    ref = _session(pt.L3_PACKAGE, pt.L3_ONNX).run(
        ['onnx::Shape_422'], {'input_ids': ids.astype(np.int64),
                              'attention_mask': mask.astype(np.int64)})[0]
    assert ours.shape == ref.shape == (len(TEXTS), 24, 384)
    np.testing.assert_allclose(ours, ref, atol=1e-4)


def test_minilm_matches_int8_onnx():
    """all-MiniLM-L6-v2 from safetensors vs the independent int8 ONNX export of the same model."""
    model = models.create('bert-minilm', num_classes=0)
    variables = pt.load_minilm(model)
    ids, mask = pt.tokenize(TEXTS, 24)
    ours = np.asarray(model.apply(variables, jnp.asarray(ids), jnp.asarray(mask)))
    ref = _session(pt.INT8_PACKAGE, pt.INT8_ONNX).run(None, {
        'input_ids': ids.astype(np.int64), 'attention_mask': mask.astype(np.int64),
        'token_type_ids': np.zeros_like(ids, np.int64)})[0]
    a, b = _mean_pool(ours, mask), _mean_pool(ref, mask)
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.mean() >= 0.999 and cos.min() >= 0.998, cos  # int8 weights cost the rest


def test_minilm_loads_into_a_polynomial_classifier():
    model = models.create('bert-minilm', spec='thex', num_classes=2)
    variables = pt.load_minilm(model)
    assert variables['params']['head']['kernel'].shape == (384, 2)
    assert 'approx' in variables
    exact = pt.load_minilm()
    np.testing.assert_array_equal(variables['params']['layer_5']['mlp']['fc2']['kernel'],
                                  exact['params']['layer_5']['mlp']['fc2']['kernel'])


def test_minilm_refuses_a_model_of_another_size():
    with pytest.raises(ValueError, match='does not fit model bert-test'):
        pt.load_minilm(models.create('bert-test', num_classes=0))


@pytest.fixture(scope='module')
def small():
    """A tiny HF-named checkpoint for bert-test and its template params."""
    model = models.create('bert-test', num_classes=0)
    ids = jnp.zeros((1, 4), jnp.int32)
    template = jax.tree.map(np.asarray, model.init(jax.random.key(0), ids)['params'])
    tensors = {}
    for name, (path, transpose) in pt.mapping_table(1).items():
        node = template
        for k in path:
            node = node[k]
        tensors[name] = (node.T if transpose else node) + 1.0
    return model, template, tensors


def test_import_places_every_tensor(small):
    model, template, tensors = small
    params = pt.import_bert(dict(tensors, **{'pooler.dense.bias': np.zeros(3)}), template)
    np.testing.assert_array_equal(params['layer_0']['attn']['query']['kernel'],
                                  tensors['encoder.layer.0.attention.self.query.weight'].T)
    np.testing.assert_array_equal(params['embed_norm']['scale'], tensors['embeddings.LayerNorm.weight'])


def test_import_fails_on_wrong_shape_naming_the_tensor(small):
    model, template, tensors = small
    bad = dict(tensors)
    bad['encoder.layer.0.intermediate.dense.weight'] = np.zeros((65, 32), np.float32)
    with pytest.raises(ValueError, match=r'encoder.layer.0.intermediate.dense.weight: shape \(65, 32\)'):
        pt.import_bert(bad, template)


def test_import_fails_on_unplaced_tensor(small):
    model, template, tensors = small
    with pytest.raises(ValueError, match=r"does not place: \['encoder.layer.1.output.dense.bias'\]"):
        pt.import_bert(dict(tensors, **{'encoder.layer.1.output.dense.bias': np.zeros(32)}), template)


def test_import_fails_on_missing_tensor(small):
    model, template, tensors = small
    partial = {k: v for k, v in tensors.items() if 'layer.0.output.LayerNorm' not in k}
    with pytest.raises(ValueError, match=r"no checkpoint tensor fills: \['layer_0/norm2/bias', "
                                         r"'layer_0/norm2/scale'\]"):
        pt.import_bert(partial, template)


def test_l3_with_polynomial_gelu_stays_close_after_calibration():
    """Exact -> polynomial at the real-weights boundary: every GELU a degree-32 minimax fit on
    its calibrated interval (layer 0 sees [-10, 23]); the model stays within 1e-3 cosine."""
    from polyzoo.nn import ApproxSpec, Poly, Site

    ids, mask = (jnp.asarray(a) for a in pt.tokenize(TEXTS, 24))
    params = pt.load_l3_onnx()['params']
    ref = np.asarray(models.create('bert-l3', num_classes=0).apply({'params': params}, ids, mask))
    spec = ApproxSpec(act=Site('poly', poly=Poly('gelu', 32, (-8.0, 8.0))))
    model = models.create('bert-l3', spec=spec, num_classes=0)
    v = dict(model.init(jax.random.key(0), ids[:1], mask[:1]), params=params)
    v = models.calibrate(model, v, [(ids, mask)], margin=0.05)
    out, counts = models.apply_with_monitor(model, v, ids, mask)
    assert all(int(c) == 0 for c in counts.values())
    a, b = _mean_pool(np.asarray(out), np.asarray(mask)), _mean_pool(ref, np.asarray(mask))
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.min() >= 0.999, cos
