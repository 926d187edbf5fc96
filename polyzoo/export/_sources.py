"""What `polyzoo export NAME` exports: a float function of the encrypted input plus its data.

NAME is a zoo entry (polyzoo.zoo.load); the default, 'vit-micro-mnist-qat', is the zoo's
FHE-sized model (the QAT micro ViT, `polyzoo train vit_micro_mnist_qat`). ViTs with BatchNorm
are folded first; a QAT ViT trained with `client_embeds` is split after its patch embedding
(`method='embed_patches'`, computed by the client in the clear). A BERT is split where THE-X and Liu & Liu split it: the client tokenises
and embeds in plaintext (`method='embed'`: a table lookup and the embedding LayerNorm), the
circuit takes the embeddings (B, S, H) and runs the encoder and head (`encode_embedded`).
Only a BERT whose attention ignores padding (`mask_padding=False`) exports: a mask would be
a second encrypted input and cost two PBS per masked product.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import numpy as np

from polyzoo._names import unknown

MICRO_NAME = "vit-micro-mnist-qat"  # the zoo's FHE-sized model
N_CALIBRATION = 1000  # training inputs Concrete-ML calibrates on, unless a QAT record says


@dataclasses.dataclass
class Source:
    """What `resolve(name)` returns for `export_model`: the float function of the encrypted
    input, its calibration inputs (all of them), the test split, and how the client prepares
    raw inputs (`client`, None: as they are)."""

    name: str
    fn: Callable                 # float logits of a (B, ...) float32 batch
    calibration: np.ndarray      # the training inputs Concrete-ML calibrates on (all of them)
    test_x: np.ndarray
    test_y: np.ndarray
    dataset: str
    meta: dict
    client: dict | None = None   # how the client turns raw inputs into circuit inputs
                                 # (None: as they are; see client_encoder)
    export_fn: Callable | None = None  # what is compiled, if not `fn`: `fn` with its trained
                                       # quantisers (a QAT entry; Concrete-ML imports them)


def default_knobs(source: Source, *, n_bits: int | None = None, rounding: int | None = None,
                  p_error: float | None = None, global_p_error: float | None = None,
                  partition: str = "precision", compress_keys: bool = False):
    """Knobs for exporting `source`: what the caller sets, else the bit-widths the entry was
    quantisation-aware trained for (rounding and input bits only when n_bits is theirs too),
    p_error micro.DEFAULT_P_ERROR. A QAT entry's graph carries its trained grids (export_fn)."""
    from polyzoo.export import micro
    from polyzoo.export._compile import Knobs
    from polyzoo.export._quant_spec import QuantSpec

    if n_bits is not None and not 2 <= n_bits <= 16:
        raise ValueError(f"n_bits {n_bits}: use 2..16 (4-6 keeps TFHE fast)")
    qat = source.meta.get("qat")
    if n_bits is not None:
        quant = QuantSpec(bits=n_bits, rounding_bits=rounding)
    else:  # the grids the entry was trained on; Concrete-ML's own (PTQ) at the zoo's bits
        trained = (QuantSpec.from_record(qat) if qat else
                   QuantSpec(bits=micro.DEFAULT_QUANT.bits,
                             rounding_bits=micro.DEFAULT_QUANT.rounding_bits))
        quant = (trained if rounding is None
                 else dataclasses.replace(trained, rounding_bits=rounding))
    if p_error is None and global_p_error is None:
        p_error = micro.DEFAULT_P_ERROR
    return Knobs(quant=quant, p_error=p_error, global_p_error=global_p_error,
                 partition=partition, compress_keys=compress_keys)


def _zoo(name: str) -> Source:
    from polyzoo import models, zoo
    from polyzoo.train import data

    entry = zoo.load(name)
    model, variables = entry.model, entry.variables
    dataset = entry.meta.get("dataset")
    ds = data.load(dataset)
    meta = {"zoo": entry.meta.get("metrics"),
            **({"qat": entry.meta["qat"]} if entry.meta.get("qat") else {})}
    qat_meta = entry.meta.get("qat") or {}
    if isinstance(model.config, models.BertConfig):
        client = _bert_client(name, model, entry.meta)
        embed = client_encoder(client, entry)
        fn = lambda x: model.apply(variables, x, None, method="encode_embedded")  # noqa: E731
        export_fn = None
        if qat_meta.get("ranges"):  # the grids it trained on, calibrated on these inputs
            from polyzoo.export import micro

            export_fn = micro.export_function(model, variables, qat_meta)
        n_calibration = qat_meta.get("calibration", N_CALIBRATION)
        return Source(name, fn, embed(ds.train.inputs[:n_calibration]), embed(ds.test.inputs),
                      ds.test.labels, dataset, meta, client, export_fn=export_fn)
    if any(model.spec.site(s).behaviour.folds for s in model.site_names()):
        model, variables = models.fold_batchnorms(model, variables)
    if not qat_meta.get("ranges"):
        return Source(name, functools.partial(model.apply, variables),
                      ds.train.inputs[:N_CALIBRATION], ds.test.inputs, ds.test.labels, dataset,
                      meta)
    from polyzoo.export import micro

    export_fn = micro.export_function(model, variables, qat_meta)  # the grids it trained on
    # Concrete-ML sizes integers and rounding on the inputs the grids were calibrated on
    calibration = ds.train.inputs[:qat_meta.get("calibration", N_CALIBRATION)]
    if not qat_meta.get("client"):
        return Source(name, functools.partial(model.apply, variables), calibration,
                      ds.test.inputs, ds.test.labels, dataset, meta, export_fn=export_fn)
    client = {"zoo": name, "method": qat_meta["client"]}  # the client embeds the patches
    if model.config.stem:  # ... behind its convolutional stem (said in /v1/info)
        client["stem"] = model.config.stem
    embed = client_encoder(client, entry)
    fn = lambda x: model.apply(variables, x, method="encode_embedded")  # noqa: E731
    return Source(name, fn, embed(calibration), embed(ds.test.inputs), ds.test.labels, dataset,
                  meta, client, export_fn=export_fn)


def _bert_client(name: str, model, meta: dict) -> dict:
    c = model.config
    if c.mask_padding:
        raise ValueError(f"zoo entry {name!r} attends with a padding mask, which the encrypted "
                         "circuit does not take (it would be a second encrypted input, two PBS "
                         "per masked product): export a BERT trained with "
                         "overrides={'mask_padding': False}, as `polyzoo train "
                         "bert_micro_sentiment` does")
    if c.pool == "mean":
        raise ValueError(f"zoo entry {name!r} pools by a masked mean (a division by an "
                         "encrypted count): export a BERT with pool='cls' or 'avg'")
    return {"zoo": name, "method": "embed", "max_len": int(meta["max_len"])}


def client_encoder(client: dict | None, entry=None) -> Callable[[np.ndarray], np.ndarray]:
    """raw inputs (N, ...) -> circuit inputs (N, ...) float32, computed by the client in the
    clear: the identity (client None), the patch embedding (B, N, D) for a ViT whose client
    embeds, tokenise + embed (B, S, H) for text (`client` as written by `polyzoo export` into
    the deployment; entry: the zoo entry, loaded if not given)."""
    if client is None:
        return lambda x: np.asarray(x, np.float32)
    import jax

    from polyzoo import zoo

    entry = entry or zoo.load(client["zoo"])
    embed = jax.jit(lambda x: entry.model.apply(entry.variables, x, method=client["method"]))
    if "max_len" in client:  # text
        from polyzoo.models.pretrained import tokenize

        prepare = lambda texts: tokenize([str(t) for t in texts], client["max_len"])[0]  # noqa: E731
    else:
        prepare = lambda images: np.asarray(images, np.float32)  # noqa: E731

    def encode(raw, batch: int = 512):
        x = prepare(raw)
        return np.concatenate([np.asarray(embed(x[i:i + batch]), np.float32)
                               for i in range(0, len(x), batch)])
    return encode


def resolve(name: str) -> Source:
    """The Source for zoo entry NAME; unknown names list what is valid."""
    from polyzoo import zoo

    names = zoo.names()
    if name not in names:
        hint = (f" ({MICRO_NAME!r} is built by `polyzoo train vit_micro_mnist_qat`)"
                if name == MICRO_NAME else "")
        raise ValueError(unknown("model", name, names, none="(none published yet)",
                                 also=hint))
    return _zoo(name)
