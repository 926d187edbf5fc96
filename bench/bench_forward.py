"""Jitted forward throughput: exact vs polynomial polyzoo models, and onnxruntime beside them.

    .venv/bin/python bench/bench_forward.py [--batch 16] [--seq 64] [--runs 9]

Rows: polyzoo's 3-layer BERT (paraphrase-MiniLM-L3-v2 weights imported from its ONNX) exact and
in two polynomial forms (every polynomial calibrated on the batch), onnxruntime running that
fp32 ONNX on the same (batch, seq), and the exact vs polynomial 'vit-mini' on 28x28 images.
The contenders of a table are timed in interleaved rounds (one call each per round, after two
warm-up calls) so that a shared machine's load falls on all of them alike; each rate is the
median over the rounds, and ratios compare rates measured in this same run.
"""
from __future__ import annotations

import argparse
import os
import statistics

import jax
import jax.numpy as jnp
import numpy as np

from _harness import in_turns, write


def interleaved_rates(calls: dict, n_items: int, runs: int) -> dict[str, float]:
    """{name: items per second} from the median of `runs` interleaved timed calls."""
    for fn in calls.values():  # compile and warm up, untimed
        fn(), fn()
    timed = in_turns({k: (lambda _, fn=fn: fn()) for k, fn in calls.items()}, runs, log=None)
    return {k: n_items / statistics.median(t.seconds) for k, t in timed.items()}


def bert_calls(batch: int, seq: int) -> dict:
    import onnxruntime as ort

    from polyzoo import models
    from polyzoo.models import pretrained as pt

    texts = [f'sentence number {i} says the film was {"good" if i % 2 else "bad"} ' * 8
             for i in range(batch)]
    ids, mask = pt.tokenize(texts, seq)
    i, m = jnp.asarray(ids), jnp.asarray(mask)
    params = pt.load_l3_onnx()['params']
    calls = {}
    for label, spec in (('exact', 'exact'), ('poly: polyzoo preset', 'polyzoo'),
                        ('poly: zimerman-lm preset', 'zimerman-lm')):
        model = models.create('bert-l3', spec=spec, num_classes=0)
        variables = dict(model.init(jax.random.key(0), i[:1], m[:1]), params=params)
        if spec != 'exact':  # fit every polynomial on this data's ranges (as a zoo model would be)
            variables = models.calibrate(model, variables, [(i, m)])
        fwd = jax.jit(lambda v, i, m, model=model: model.apply(v, i, m))
        calls[f'polyzoo bert-l3 {label}'] = (
            lambda fwd=fwd, v=variables: fwd(v, i, m).block_until_ready())
    sess = ort.InferenceSession(str(pt.package_file(pt.L3_PACKAGE, pt.L3_ONNX)),
                                providers=['CPUExecutionProvider'])
    feed = {'input_ids': ids.astype(np.int64), 'attention_mask': mask.astype(np.int64)}
    calls['onnxruntime paraphrase-MiniLM-L3-v2 fp32 (exact)'] = (
        lambda: sess.run(['onnx::Shape_422'], feed))
    return calls


def vit_calls(batch: int) -> dict:
    from polyzoo import models

    images = jax.random.uniform(jax.random.key(1), (batch, 28, 28, 1), jnp.float32)
    calls = {}
    for label, spec in (('exact', 'exact'), ('poly: polyzoo preset, BN folded', 'polyzoo')):
        model = models.create('vit-mini', spec=spec)
        variables = model.init(jax.random.key(0), images)
        if spec != 'exact':
            variables = models.calibrate(model, variables, [images])
            model, variables = models.fold_batchnorms(model, variables)
        fwd = jax.jit(lambda v, x, model=model: model.apply(v, x))
        calls[f'polyzoo vit-mini {label}'] = (
            lambda fwd=fwd, v=variables: fwd(v, images).block_until_ready())
    return calls


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--seq', type=int, default=64)
    ap.add_argument('--runs', type=int, default=9)
    args = ap.parse_args()
    vit_batch = 16 * args.batch
    print(f'jax {jax.__version__} on {jax.devices()[0].platform}; BERT batch {args.batch} x seq '
          f'{args.seq}, ViT batch {vit_batch}; median of {args.runs} interleaved rounds; '
          f'load average {os.getloadavg()[0]:.2f} on {len(os.sched_getaffinity(0))} CPUs')
    bert = interleaved_rates(bert_calls(args.batch, args.seq), args.batch, args.runs)
    vit = interleaved_rates(vit_calls(vit_batch), vit_batch, args.runs)
    width = max(map(len, list(bert) + list(vit)))
    print(f'\n{"BERT, sequences/s":<{width}}  rate')
    for k, v in bert.items():
        print(f'{k:<{width}}  {v:9.1f}')
    print(f'\n{"ViT, images/s":<{width}}  rate')
    for k, v in vit.items():
        print(f'{k:<{width}}  {v:9.1f}')

    ort_rate = bert['onnxruntime paraphrase-MiniLM-L3-v2 fp32 (exact)']
    exact = bert['polyzoo bert-l3 exact']
    ratios = {}
    for k, v in bert.items():
        if 'poly:' in k:
            name = k.replace('polyzoo bert-l3 poly: ', 'bert-l3 ').replace(' preset', '')
            ratios[f'{name} / polyzoo exact'] = v / exact
            ratios[f'{name} / onnxruntime exact'] = v / ort_rate
    ratios['bert-l3 polyzoo exact / onnxruntime exact'] = exact / ort_rate
    ve, vp = vit.values()
    ratios['vit-mini polynomial / exact'] = vp / ve
    width = max(map(len, ratios))
    print(f'\nratios (load average now {os.getloadavg()[0]:.2f})')
    for k, v in ratios.items():
        print(f'  {k:<{width}}  {v:5.2f}x')
    figures = {"bert_sequences_per_s": bert, "vit_images_per_s": vit, "ratios": ratios,
               "settings": {**vars(args), "vit_batch": vit_batch}}
    print(f"wrote {write('forward', figures)}")
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
