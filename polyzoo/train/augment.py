"""Text augmentation for a distillation transfer set (TinyBERT, Jiao et al. 2020, section 3.3).

A small student distilled on a few thousand texts learns the teacher's answers on those texts
only. Copies of each text with some words swapped for their nearest neighbours in a word
embedding table (often a synonym, sometimes an antonym: "good" -> "great" or "bad"), or cut
to a span of its words, are new inputs on which the teacher's logits say what the text now
means. So the copies are labelled by the teacher (`zoo.training.augmented_train`), never by
the original's label: a copy whose meaning flipped is still a correct example.
"""
from __future__ import annotations

import re

import numpy as np

_WORD = re.compile(r"[a-z]+")


def word_neighbours(table: np.ndarray, vocab: dict[str, int], k: int = 5,
                    block: int = 2048) -> dict[str, tuple[str, ...]]:
    """Each whole-word entry of `vocab` (lower-case letters, no '##' piece) -> its `k`
    nearest other whole words by cosine similarity of their rows in `table` (V, D)."""
    if table.ndim != 2 or table.shape[0] < len(vocab):
        raise ValueError(f"the word table must be (vocabulary, width) with a row per vocab "
                         f"entry, got {table.shape} for {len(vocab)} entries")
    words = sorted((i, w) for w, i in vocab.items() if _WORD.fullmatch(w))
    if len(words) <= k:
        raise ValueError(f"{len(words)} whole words in the vocabulary: too few for {k} "
                         "neighbours each")
    ids = np.array([i for i, _ in words])
    names = np.array([w for _, w in words])
    unit = table[ids].astype(np.float32)
    unit /= np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12)
    out = {}
    for s in range(0, len(ids), block):
        sim = unit[s:s + block] @ unit.T
        sim[np.arange(sim.shape[0]), np.arange(s, s + sim.shape[0])] = -np.inf  # not itself
        near = np.argpartition(-sim, k, axis=1)[:, :k]
        order = np.take_along_axis(-sim, near, axis=1).argsort(axis=1)
        for w, row in zip(names[s:s + block], np.take_along_axis(near, order, axis=1)):
            out[str(w)] = tuple(str(n) for n in names[row])
    return out


def augmented_copies(texts, neighbours: dict[str, tuple[str, ...]], copies: int, *,
                     seed: int = 0, replace: float = 0.3, crop: float = 0.3) -> np.ndarray:
    """`copies` augmented versions of each text, copy by copy: (copies * N,) unicode.

    Each word found in `neighbours` (lower-cased) is swapped with probability `replace` for
    one of its neighbours drawn uniformly; then, with probability `crop`, a text of four or
    more words is cut to a random span of at least half of them.
    """
    if copies < 0 or not 0 <= replace <= 1 or not 0 <= crop <= 1:
        raise ValueError(f"copies must be >= 0 and replace, crop probabilities in [0, 1]; got "
                         f"copies={copies}, replace={replace}, crop={crop}")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(copies):
        for text in texts:
            words = [rng.choice(neighbours[w.lower()]) if w.lower() in neighbours
                     and rng.random() < replace else w for w in str(text).split()]
            if len(words) >= 4 and rng.random() < crop:
                n = len(words)
                span = int(rng.integers(max(2, n // 2), n + 1))
                start = int(rng.integers(0, n - span + 1))
                words = words[start:start + span]
            out.append(" ".join(words))
    return np.array(out, dtype=str)
