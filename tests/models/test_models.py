"""polyzoo.models: variants, shapes, parameter counts, bad input, masking, jit hygiene, folding."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from polyzoo import models
from polyzoo.nn import ApproxSpec, Poly, Site

KEY = jax.random.key(0)


def _bert_inputs(b=2, s=8, vocab=30522, pad=0):
    ids = jax.random.randint(KEY, (b, s), 1, vocab, dtype=jnp.int32)
    mask = jnp.ones((b, s), jnp.float32)
    if pad:
        ids = ids.at[:, s - pad:].set(0)
        mask = mask.at[:, s - pad:].set(0.0)
    return ids, mask


def _images(b=2, seed=1):
    return jax.random.uniform(jax.random.key(seed), (b, 28, 28, 1), jnp.float32)


def _expected_params(cfg):
    h, f, L = cfg.hidden, cfg.mlp_dim, cfg.num_layers
    layer = 4 * (h * h + h) + (h * f + f) + (f * h + h) + 2 * 2 * h  # attn, mlp, 2 norms
    head = (h * cfg.num_classes + cfg.num_classes) if cfg.num_classes else 0
    if isinstance(cfg, models.BertConfig):
        emb = (cfg.vocab_size + cfg.max_positions + cfg.type_vocab_size) * h + 2 * h
        return emb + L * layer + head
    patch = cfg.patch_size[0] * cfg.patch_size[1] * cfg.image_size[2]
    return patch * h + h + cfg.num_tokens * h + L * layer + 2 * h + head


@pytest.mark.parametrize('name', models.VARIANTS + ('vit-micro/14x7',))
def test_variant_shapes_and_parameter_counts(name):
    model = models.create(name)
    args = _bert_inputs() if name.startswith('bert') else (_images(),)
    variables = jax.eval_shape(lambda: model.init(KEY, *args))
    out = jax.eval_shape(lambda v: model.apply(v, *args), variables)
    assert out.shape == (2, model.config.num_classes) and out.dtype == jnp.float32
    n = sum(x.size for x in jax.tree.leaves(variables['params']))
    assert n == _expected_params(model.config)
    assert set(variables) == {'params'}  # no activations stored by init


def test_published_sizes():
    c = models.parse('bert-minilm')
    assert (c.num_layers, c.hidden, c.heads, c.mlp_dim, c.vocab_size, c.max_positions, c.eps) == \
        (6, 384, 12, 1536, 30522, 512, 1e-12)
    assert models.parse('bert-l3').num_layers == 3
    assert models.parse('vit-ti/4').num_tokens == 49
    assert models.parse('vit-micro').num_tokens == 4 and models.parse('vit-micro').hidden == 8
    assert models.parse('vit-micro/7').num_tokens == 16
    assert models.parse('bert-micro', max_positions=32).max_positions == 32
    # bert-minilm has exactly all-MiniLM-L6-v2's parameter count without the pooler
    assert _expected_params(models.parse('bert-minilm', num_classes=0)) == 22_565_376


@pytest.mark.parametrize('name, msg', [
    ('bert-huge', "did you mean 'bert-test'"), ('gpt-test', 'unknown model variant'),
    ('bert-test/4', 'unknown model variant'), ('vit-ti/5', 'do not tile the image'),
    ('vit-micro/14x5', 'do not tile the image'), ('vit-micro/14y7', 'unknown model variant'),
    ('vit-micro/x7', 'unknown model variant'),
])
def test_bad_variant_names(name, msg):
    with pytest.raises(ValueError, match=msg):
        models.create(name)


def test_bad_override_field():
    with pytest.raises(ValueError, match='unknown config fields'):
        models.create('bert-test', hidden_size=3)


def test_spec_with_site_the_model_lacks():
    spec = ApproxSpec(overrides=(('layer_3/mlp/act', Site('relu')),))
    with pytest.raises(ValueError, match=r"\['layer_3/mlp/act'\].*layer_0/attn/softmax"):
        models.create('bert-test', spec=spec)
    with pytest.raises(ValueError, match='final_norm'):
        models.create('bert-test', spec=ApproxSpec(overrides=(('final_norm', Site('affine')),)))


# --- bad input ----------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def bert():
    model = models.create('bert-test')
    return model, model.init(KEY, *_bert_inputs())


@pytest.mark.parametrize('ids, mask, msg', [
    (jnp.zeros((2, 8), jnp.float32), None, 'input_ids must be integer'),
    (jnp.zeros((8,), jnp.int32), None, 'input_ids must be integer \\(batch, seq\\)'),
    (jnp.zeros((2, 8), jnp.int32), jnp.ones((2, 7), jnp.float32), 'mask must be float32 0/1 of shape'),
    (jnp.zeros((2, 8), jnp.int32), jnp.ones((2, 8), jnp.int32), 'mask must be float32'),
    (jnp.zeros((2, 65), jnp.int32), None, 'sequence length 65 exceeds the position table \\(64\\)'),
])
def test_bert_bad_input(bert, ids, mask, msg):
    model, v = bert
    with pytest.raises(ValueError, match=msg):
        model.apply(v, ids, mask)


def test_bert_bad_embeddings(bert):
    model, v = bert
    with pytest.raises(ValueError, match='embeddings must be float'):
        model.apply(v, jnp.zeros((2, 8, 16), jnp.float32), method='encode_embedded')


@pytest.mark.parametrize('images', [jnp.zeros((2, 28, 28), jnp.float32),
                                    jnp.zeros((2, 32, 32, 1), jnp.float32),
                                    jnp.zeros((2, 28, 28, 1), jnp.uint8)])
def test_vit_bad_input(images):
    model = models.create('vit-test')
    v = model.init(KEY, _images())
    with pytest.raises(ValueError, match='images must be float32 \\(batch, 28, 28, 1\\)'):
        model.apply(v, images)


# --- behaviour ----------------------------------------------------------------------------------

def test_embed_then_encode_equals_forward(bert):
    model, v = bert
    ids, mask = _bert_inputs(pad=3)
    x = model.apply(v, ids, method='embed')
    assert x.shape == (2, 8, 32)
    np.testing.assert_allclose(model.apply(v, x, mask, method='encode_embedded'),
                               model.apply(v, ids, mask), atol=1e-6)


@pytest.mark.parametrize('spec', ['exact', 'mpcformer',
                                  ApproxSpec(softmax=Site('power', param=2.0))])
def test_padding_does_not_change_valid_tokens(spec):
    model = models.create('bert-test', spec=spec, num_classes=0)
    ids, mask = _bert_inputs(s=6)
    v = model.init(KEY, ids, mask)
    short = model.apply(v, ids, mask)
    long_ids = jnp.concatenate([ids, jnp.full((2, 4), 7, jnp.int32)], axis=1)  # junk, masked
    long_mask = jnp.concatenate([mask, jnp.zeros((2, 4), jnp.float32)], axis=1)
    np.testing.assert_allclose(model.apply(v, long_ids, long_mask)[:, :6], short, atol=2e-5)


def test_intermediates_and_hidden_states(bert):
    model, v = bert
    _, state = model.apply(v, *_bert_inputs(), mutable=['intermediates', 'hidden'])
    inputs = models.site_inputs(state)
    for site in model.site_names():
        assert site in inputs
    assert inputs['layer_0/attn/softmax'].shape == (2, 2, 8, 8)
    assert inputs['layer_0/mlp/act'].shape == (2, 8, 64)
    hidden = models.hidden_states(state)
    assert len(hidden) == 1 and hidden[0].shape == (2, 8, 32)
    _, state = model.apply(v, *_bert_inputs(pad=2), mutable=['attention'])
    w = models.attention_weights(state)['layer_0/attn/softmax']
    np.testing.assert_allclose(jnp.sum(w, -1), 1.0, rtol=1e-5)
    assert float(jnp.max(w[..., 6:])) == 0.0  # padded keys get no weight


def test_exportable_flags():
    sites = models.site_names(models.parse('bert-test'))
    assert models.create('bert-test', spec='thex').spec.exportable(sites)
    assert not models.create('bert-test', spec='exact').spec.exportable(sites)
    mpcformer = models.create('bert-test', spec='mpcformer').spec
    assert not mpcformer.exportable(sites)  # its exact LayerNorm
    # 2Quad's exact reciprocal of the row mean is one table lookup under TFHE
    assert mpcformer.site('layer_0/attn/softmax').exportable


def test_no_recompilation_on_new_inputs_or_new_fits():
    model = models.create('vit-test', spec='zimerman')
    v = model.init(KEY, _images())
    fwd = jax.jit(lambda v, x: model.apply(v, x))
    fwd(v, _images(seed=2)).block_until_ready()
    fwd(v, _images(seed=3)).block_until_ready()
    v2 = jax.tree.map(lambda a: a * 1.5, v)  # new coefficients, intervals, params
    fwd(v2, _images(seed=4)).block_until_ready()
    assert fwd._cache_size() == 1


def test_dropout_needs_rng_in_training_only():
    model = models.create('vit-test', dropout=0.5)
    v = model.init(KEY, _images())
    a = model.apply(v, _images())
    np.testing.assert_allclose(a, model.apply(v, _images()))
    b = model.apply(v, _images(), train=True, rngs={'dropout': KEY})
    assert not np.allclose(a, b)


def test_fold_batchnorms_keeps_function_and_removes_norms():
    model = models.create('vit-test', spec='polyzoo')
    x = _images(8)
    v = model.init(KEY, x)
    _, upd = model.clone(reference=True).apply(v, x, train=True, mutable=['batch_stats'])
    v = dict(v, batch_stats=upd['batch_stats'])
    v['params'] = jax.tree.map(lambda p: p + 0.1, v['params'])  # non-trivial BN scale/bias
    folded_model, folded = models.fold_batchnorms(model, v)
    np.testing.assert_allclose(folded_model.apply(folded, x), model.apply(v, x), atol=1e-4)
    assert all(folded_model.spec.site(s).choice == 'identity'
               for s in model.site_names() if 'norm' in s)
    assert 'norm1' not in folded['params']['layer_0'] and 'final_norm' not in folded['params']
    with pytest.raises(ValueError, match='pre-norm'):
        models.fold_batchnorms(models.create('bert-test'), {})


def test_export_ops_of_polynomial_forms():
    """Polynomial forwards touch encrypted values only with ops TFHE export takes."""
    x = _images()
    for spec in ('polyzoo', 'zimerman', 'thex', 'zimerman-lm'):
        model = models.create('vit-test', spec=spec)
        v = model.init(KEY, x)
        if model.spec.norm.choice == 'batchnorm':
            model, v = models.fold_batchnorms(model, v)
        assert models.non_he_ops(lambda v, x: model.apply(v, x), v, x, constant_argnums=(0,)) == {}
    bert = models.create('bert-micro', spec='thex')
    ids, mask = _bert_inputs()
    v = bert.init(KEY, ids, mask)
    emb = bert.apply(v, ids, method='embed')
    ops = models.non_he_ops(lambda v, e, m: bert.apply(v, e, m, method='encode_embedded'),
                            v, emb, mask, constant_argnums=(0,))
    assert ops == {}
    exact = models.create('vit-test')
    ve = exact.init(KEY, x)
    ops = models.non_he_ops(lambda v, x: exact.apply(v, x), ve, x, constant_argnums=(0,))
    assert {'exp', 'rsqrt'} <= set(ops)  # the checker does see non-polynomial ops


def test_bad_config_sizes():
    with pytest.raises(ValueError, match='hidden 30 is not divisible by heads 4'):
        models.create('bert-test', hidden=30, heads=4)
    with pytest.raises(ValueError, match="pool must be 'cls', 'mean' or 'avg'"):
        models.create('bert-test', pool='max')
    with pytest.raises(ValueError, match='chunk must be a positive'):
        models.create('bert-test', chunk=0)
    with pytest.raises(ValueError, match="chunk > 1 takes pool 'cls' or 'avg'"):
        models.create('bert-test', chunk=2, pool='mean')
    with pytest.raises(ValueError, match='embed_dim must be 0'):
        models.create('bert-test', embed_dim=-1)
    with pytest.raises(ValueError, match='stem must be 0'):
        models.create('vit-test', stem=-8)


def test_mean_pooling_head_reads_valid_tokens_only():
    model = models.create('bert-test', pool='mean', num_classes=3)
    ids, mask = _bert_inputs(pad=3)
    v = model.init(KEY, ids, mask)
    feats = models.create('bert-test', num_classes=0).apply({'params': v['params']}, ids, mask)
    pooled = jnp.sum(feats * mask[:, :, None], axis=1) / 5.0
    head = v['params']['head']
    np.testing.assert_allclose(model.apply(v, ids, mask), pooled @ head['kernel'] + head['bias'][None],
                               atol=1e-5)


def test_avg_pooling_is_the_mean_over_every_position():
    model = models.create('bert-test', pool='avg', num_classes=3)
    ids, mask = _bert_inputs(pad=3)
    v = model.init(KEY, ids, mask)
    feats = models.create('bert-test', num_classes=0).apply({'params': v['params']}, ids, mask)
    head = v['params']['head']
    np.testing.assert_allclose(model.apply(v, ids, mask),
                               feats.mean(axis=1) @ head['kernel'] + head['bias'][None], atol=1e-5)


def test_factorised_embeddings_are_a_table_then_a_projection():
    model = models.create('bert-test', embed_dim=6)
    ids, mask = _bert_inputs()
    v = model.init(KEY, ids, mask)
    p = v['params']
    assert p['word_embeddings']['embedding'].shape == (30522, 6)
    assert p['embed_proj']['kernel'].shape == (6, 32)
    folded = models.create('bert-test')  # the same function with the product as its table
    q = {**p, 'word_embeddings': {'embedding': p['word_embeddings']['embedding']
                                  @ p['embed_proj']['kernel']}}
    q.pop('embed_proj')
    np.testing.assert_allclose(model.apply(v, ids, mask), folded.apply({'params': q}, ids, mask),
                               atol=1e-5)


def test_a_word_delta_adds_to_the_projected_table_and_starts_at_zero():
    plain = models.create('bert-test', embed_dim=6)
    model = models.create('bert-test', embed_dim=6, word_delta=True)
    ids, mask = _bert_inputs()
    v = model.init(KEY, ids, mask)
    assert v['params']['word_delta']['embedding'].shape == (30522, 32)
    base = {'params': {k: w for k, w in v['params'].items() if k != 'word_delta'}}
    np.testing.assert_allclose(model.apply(v, ids, mask), plain.apply(base, ids, mask), atol=1e-6)
    p = v['params']  # a delta is the same function as that change of the table's product
    delta = jax.random.normal(KEY, (30522, 32)) * 0.1
    moved = {'params': {**p, 'word_delta': {'embedding': delta}}}
    table = p['word_embeddings']['embedding'] @ p['embed_proj']['kernel'] + delta
    q = {k: w for k, w in p.items() if k not in ('word_delta', 'embed_proj')}
    q['word_embeddings'] = {'embedding': table}
    np.testing.assert_allclose(model.apply(moved, ids, mask),
                               models.create('bert-test').apply({'params': q}, ids, mask),
                               atol=1e-5)
    with pytest.raises(ValueError, match='word_delta adds to factorised word embeddings'):
        models.create('bert-test', word_delta=True)


def test_chunked_tokens_concatenate_words_and_project_them():
    model = models.create('bert-test', chunk=4, pool='avg', num_classes=0)
    ids, mask = _bert_inputs(s=8, pad=5)
    v = model.init(KEY, ids, mask)
    x = model.apply(v, ids, method='embed')
    words = models.create('bert-test', pool='avg', num_classes=0).apply(
        {'params': {k: w for k, w in v['params'].items() if k != 'chunk_proj'}}, ids,
        method='embed')
    assert x.shape == (2, 2, 4 * 32)  # 8 words -> 2 tokens of 4 words side by side
    np.testing.assert_allclose(x, words.reshape(2, 2, 128), atol=1e-6)
    token_mask = jnp.asarray([[1.0, 0.0], [1.0, 0.0]])  # token 1 holds padding only
    np.testing.assert_allclose(model.apply(v, ids, mask),
                               model.apply(v, x, token_mask, method='encode_embedded'), atol=1e-6)
    with pytest.raises(ValueError, match='do not split into runs of chunk=4'):
        model.apply(v, ids[:, :6], method='embed')
    with pytest.raises(ValueError, match=r'embeddings must be float \(batch, seq, 128\)'):
        model.apply(v, words, None, method='encode_embedded')


def test_chunks_projected_on_the_client_are_the_same_function_split_later():
    inside = models.create('bert-test', chunk=4, pool='avg')
    client = models.create('bert-test', chunk=4, pool='avg', chunk_on_client=True)
    ids, mask = _bert_inputs(s=8, pad=5)
    v = inside.init(KEY, ids, mask)
    assert jax.tree.map(jnp.shape, v) == jax.tree.map(jnp.shape, client.init(KEY, ids, mask))
    x = client.apply(v, ids, method='embed')
    assert x.shape == (2, 2, 32)  # one hidden-wide vector per token: chunk_proj ran
    proj = v['params']['chunk_proj']
    np.testing.assert_allclose(x, inside.apply(v, ids, method='embed') @ proj['kernel']
                               + proj['bias'][None, None], atol=1e-5)
    np.testing.assert_allclose(client.apply(v, x, None, method='encode_embedded'),
                               inside.apply(v, ids), atol=1e-5)
    with pytest.raises(ValueError, match=r'embeddings must be float \(batch, seq, 32\)'):
        client.apply(v, inside.apply(v, ids, method='embed'), None, method='encode_embedded')
    with pytest.raises(ValueError, match='chunk_on_client moves chunk_proj to the client'):
        models.create('bert-test', chunk_on_client=True)


def test_conv_stem_is_a_convolution_then_its_own_activation_site():
    spec = ApproxSpec(act=Site('poly', poly=Poly('gelu', 8, (-8.0, 8.0))))
    model = models.create('vit-test', spec=spec, stem=4)
    assert model.site_names()[0] == 'stem/act'
    v = model.init(KEY, _images())
    assert v['params']['stem']['conv']['kernel'].shape == (3, 3, 1, 4)
    assert v['params']['embed']['kernel'].shape == (7 * 7 * 4, 16)  # patches of 4 channels
    _, state = model.apply(v, _images(), mutable=['intermediates'])
    assert models.site_inputs(state)['stem/act'].shape == (2, 28, 28, 4)
    # the stem belongs to the client's embedding, before the encoder
    x = model.apply(v, _images(), method='embed_patches')
    np.testing.assert_allclose(model.apply(v, x, method='encode_embedded'),
                               model.apply(v, _images()), atol=1e-6)
    override = spec.with_overrides({'stem/act': Site('relu')})
    assert models.create('vit-test', spec=override, stem=4).site_names()[0] == 'stem/act'
    with pytest.raises(ValueError, match='names sites the model does not have'):
        models.create('vit-test', spec=override)


def test_rectangular_patches_cut_rows_then_columns():
    cfg = models.parse('vit-micro/14x7')
    assert (cfg.patch_size, cfg.num_tokens) == ((14, 7), 8)
    model = models.create('vit-micro/14x7')
    images = _images()
    v = model.init(KEY, images)
    x = model.apply(v, images, method='embed_patches')
    # token 1 is rows 0-13, columns 7-13, flattened row by row
    patch = images[:, :14, 7:14, :].reshape(2, -1)
    expected = patch @ v['params']['embed']['kernel'] + v['params']['embed']['bias'][None]
    np.testing.assert_allclose(x[:, 1], expected + v['params']['pos_embedding'][:, 1],
                               atol=1e-5)


def test_narrow_attention_is_full_attention_with_zero_channels():
    """attention_dim 8 on width 16: q, k, v are 8 wide (4 per head); with inhibitor attention
    it equals the width-16 model whose extra channels in each head are zero (|0 − 0| adds
    nothing to a score, ReLU(0 − Z) is 0 for Z >= 0)."""
    spec = ApproxSpec(softmax=Site('inhibitor', param=2.0))
    narrow = models.create('vit-test', spec=spec, attention_dim=8)
    images = _images()
    v = narrow.init(KEY, images)
    attn = v['params']['layer_0']['attn']
    assert attn['query']['kernel'].shape == (16, 8) and attn['out']['kernel'].shape == (8, 16)

    def widen(kernel, bias):  # (16, 8) heads of 4 -> (16, 16) heads of 8, zero channels added
        k = jnp.zeros((16, 2, 8)).at[:, :, :4].set(kernel.reshape(16, 2, 4))
        return {'kernel': k.reshape(16, 16),
                'bias': jnp.zeros((2, 8)).at[:, :4].set(bias.reshape(2, 4)).reshape(16)}

    wide_attn = {n: widen(attn[n]['kernel'], attn[n]['bias']) for n in ('query', 'key', 'value')}
    out = jnp.zeros((2, 8, 16)).at[:, :4].set(attn['out']['kernel'].reshape(2, 4, 16))
    wide_attn['out'] = {'kernel': out.reshape(16, 16), 'bias': attn['out']['bias']}
    layer = {**v['params']['layer_0'], 'attn': wide_attn}
    wide = {**v, 'params': {**v['params'], 'layer_0': layer}}
    np.testing.assert_allclose(narrow.apply(v, images),
                               models.create('vit-test', spec=spec).apply(wide, images),
                               atol=1e-5)
    with pytest.raises(ValueError, match='attention_dim must be 0 .* multiple of heads 2'):
        models.create('vit-test', attention_dim=5)
