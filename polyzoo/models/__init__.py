"""BERT and ViT whose nonlinearities follow an approximation spec, plus calibration tools.

    create(name, *, spec='exact', num_classes=None, **overrides) -> flax.linen.Module
    calibrate / measure_ranges / widen / refit          polynomial intervals and fits
    out_of_range / apply_with_monitor / range_loss      range monitor and range penalty
    site_inputs / hidden_states / attention_weights / approx_sites / model_polys
                                                        flat views keyed by site path
    fold_batchnorms(model, variables) -> (model, variables)    BatchNorm merged for inference
"""
from polyzoo.models._calibrate import (apply_with_monitor, calibrate, measure_ranges,
                                       out_of_range, range_loss, refit, widen)
from polyzoo.models._config import (BERT_SIZES, VARIANTS, VIT_SIZES, BertConfig, VitConfig,
                                    parse, site_names)
from polyzoo.models._create import create, fold_batchnorms, from_config
from polyzoo.models._ops import HE_OPS, input_dependent_ops, non_he_ops
from polyzoo.models._sites import (approx_sites, attention_weights, hidden_states, model_polys,
                                   site_inputs)
from polyzoo.models.bert import Bert
from polyzoo.models.vit import Vit

__all__ = [
    'create', 'from_config', 'parse', 'VARIANTS', 'BERT_SIZES', 'VIT_SIZES', 'BertConfig',
    'VitConfig', 'site_names', 'Bert', 'Vit',
    'calibrate', 'measure_ranges', 'widen', 'refit', 'out_of_range', 'range_loss',
    'apply_with_monitor', 'site_inputs', 'hidden_states', 'attention_weights', 'approx_sites',
    'model_polys', 'fold_batchnorms', 'HE_OPS', 'input_dependent_ops', 'non_he_ops',
]
