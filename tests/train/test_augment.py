"""Text augmentation for distillation transfer sets (polyzoo.train.augment)."""
import numpy as np
import pytest

from polyzoo.train import augment

VOCAB = {"[PAD]": 0, "good": 1, "great": 2, "bad": 3, "awful": 4, "##s": 5, "film": 6, "!": 7}
TABLE = np.array([[0, 0, 1], [1, 0.1, 0], [1, 0.2, 0], [-1, 0.1, 0], [-1, 0.2, 0],
                  [1, 0.15, 0], [0, 1, 0], [1, 0.1, 0.01]], np.float32)


def test_neighbours_are_the_nearest_other_whole_words():
    near = augment.word_neighbours(TABLE, VOCAB, k=2)
    assert set(near) == {"good", "great", "bad", "awful", "film"}  # no pieces, marks, specials
    assert near["good"][0] == "great" and near["bad"][0] == "awful"
    assert all(w not in ns for w, ns in near.items())
    with pytest.raises(ValueError, match="too few"):
        augment.word_neighbours(TABLE, VOCAB, k=5)


def test_copies_swap_words_for_neighbours_and_cut_spans():
    near = {"good": ("great",), "film": ("movie",)}
    texts = ["a good film", "not a good film at all"]
    same = augment.augmented_copies(texts, near, 2, replace=0.0, crop=0.0)
    assert same.tolist() == texts * 2
    swapped = augment.augmented_copies(texts, near, 1, replace=1.0, crop=0.0)
    assert swapped.tolist() == ["a great movie", "not a great movie at all"]
    cut = augment.augmented_copies(texts * 50, near, 1, replace=0.0, crop=1.0, seed=3)
    assert cut[0] == "a good film"  # under four words: never cut
    spans = cut[1::2]
    assert all(s in texts[1] and len(s.split()) >= 3 for s in spans)
    assert len(set(spans)) > 1
    again = augment.augmented_copies(texts * 50, near, 1, replace=0.0, crop=1.0, seed=3)
    assert again.tolist() == cut.tolist()  # the seed fixes the copies
    with pytest.raises(ValueError, match="copies must be"):
        augment.augmented_copies(texts, near, 1, replace=1.5)
