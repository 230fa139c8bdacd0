"""Tests for ctr_helpers.data: containers, Frappe_x1, Criteo format, synthetic data, splits.

The real-data tests read the data home ($CTR_DATA_HOME, else the default one filled by
``python -m ctr_helpers.data fetch``) and write derived files only to pytest's temporary
folders. Download tests: test_data_download.py.
"""

from __future__ import annotations

import math
import sys
import time
import zipfile
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import OneHotEncoder

from ctr_helpers import data as D

# $CTR_DATA_HOME (CI sets it to a ready data home), else the default one that
# `python -m ctr_helpers.data fetch` fills; the real-data tests skip when it lacks the files.
DATA_HOME = D.get_data_home()
needs_data = pytest.mark.skipif(
    not (DATA_HOME / "frappe" / "Mobile_Frappe.zip").exists(),
    reason=f"no data in {DATA_HOME} (run python -m ctr_helpers.data fetch, or set CTR_DATA_HOME)",
)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """Point the loaders at the shared data home and keep derived files in a temp folder."""
    monkeypatch.setenv("CTR_DATA_HOME", str(DATA_HOME))
    monkeypatch.setenv("CTR_CACHE_DIR", str(tmp_path / "derived"))
    monkeypatch.delenv("CTR_DATA_URL_BASE", raising=False)


# ----------------------------------------------------------------------------------------------
# containers
# ----------------------------------------------------------------------------------------------


def test_ctrsplit_basics():
    split = D.CTRSplit(np.array([[0, 1], [1, 0], [2, 2], [0, 0]]), np.array([1, 0, 1, 1]))
    x, y = split
    assert x.dtype == torch.long and y.dtype == torch.float32
    assert len(split) == 4 and split.num_fields == 2
    assert split.positive_rate == pytest.approx(0.75)
    assert len(split.subset([0, 2])) == 2
    assert split.subset(np.array([True, False, False, True])).y.tolist() == [1.0, 1.0]
    assert split.subset(slice(1, 3)).x.tolist() == [[1, 0], [2, 2]]
    assert split.subset(range(2)).y.tolist() == [1.0, 0.0]
    assert split.subset(torch.tensor([3])).x.tolist() == [[0, 0]]
    assert "4 rows x 2 fields" in repr(split)


def test_ctrsplit_rejects_bad_input():
    with pytest.raises(TypeError, match="integer field indices"):
        D.CTRSplit(torch.zeros(3, 2), torch.zeros(3))
    with pytest.raises(ValueError, match="2-D"):
        D.CTRSplit(torch.zeros(3, dtype=torch.long), torch.zeros(3))
    with pytest.raises(ValueError, match="one label per row"):
        D.CTRSplit(torch.zeros(3, 2, dtype=torch.long), torch.zeros(4))


def test_ctrdataset_checks_ranges_and_prints():
    good = D.CTRSplit(torch.tensor([[0, 2], [1, 0]]), torch.tensor([1.0, 0.0]))
    ds = D.CTRDataset(good, good, good, ["a", "b"], [2, 3], "toy")
    text = repr(ds)
    assert "'toy'" in text and "a (2), b (3)" in text and "positive rate 0.5000" in text
    assert ds.num_features == 5
    bad = D.CTRSplit(torch.tensor([[0, 2], [1, 3]]), torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match=r"field 'b' has value 3 at row 1, outside 0\.\.2"):
        D.CTRDataset(good, bad, good, ["a", "b"], [2, 3], "toy")
    with pytest.raises(ValueError, match=r"train has 2 fields, expected 3 \(a, b, c\)"):
        D.CTRDataset(good, good, good, ["a", "b", "c"], [2, 3, 4], "toy")


# ----------------------------------------------------------------------------------------------
# Frappe
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def frappe(tmp_path_factory):
    """One rebuild for the module, timed, into a temporary cache folder."""
    cache = tmp_path_factory.mktemp("frappe_cache")
    start = time.perf_counter()
    ds = D.load_frappe(DATA_HOME, cache_dir=cache, progress=False)
    ds.info["first_call_s"] = time.perf_counter() - start
    return ds


@pytest.fixture(scope="module")
def raw_log() -> np.ndarray:
    """frappe.csv mapped with plain Python (first-appearance dicts), not the module's code."""
    with zipfile.ZipFile(DATA_HOME / "frappe" / "Mobile_Frappe.zip") as zf:
        df = pd.read_csv(zf.open("Mobile_Frappe/frappe/frappe.csv"), sep="\t", dtype=str)
    cols = [df["user"].astype(int).to_numpy(), df["item"].astype(int).to_numpy()]
    for name in D.FRAPPE_FIELDS[2:]:
        first_seen = {v: i for i, v in enumerate(dict.fromkeys(df[name]))}
        cols.append(df[name].map(first_seen).to_numpy())
    return np.stack(cols, axis=1).astype(np.int64)


def _rows(split: D.CTRSplit, label: int) -> np.ndarray:
    return split.x.numpy()[split.y.numpy() == label]


def _counts(rows: np.ndarray, cols=range(10)) -> Counter:
    """Multiset of rows restricted to ``cols``, each row as one int (10,000-radix digits)."""
    keys = np.zeros(len(rows), dtype=object)
    for f in cols:
        keys = keys * 10_000 + rows[:, f]
    values, counts = np.unique(
        keys.astype(np.int64 if len(cols) < 5 else object), return_counts=True
    )
    return Counter(dict(zip(values.tolist(), counts.tolist(), strict=True)))


@needs_data
def test_frappe_sizes_fields_and_dims(frappe):
    assert frappe.field_names == D.FRAPPE_FIELDS
    assert frappe.field_dims == [957, 4082, 7, 7, 2, 3, 2, 9, 80, 233]
    expected = {"train": (202_027, 67_604), "val": (57_722, 19_063), "test": (28_860, 9_536)}
    for name, (rows, positives) in expected.items():
        split = getattr(frappe, name)
        assert split.x.shape == (rows, 10) and split.y.shape == (rows,)
        assert int(split.y.sum()) == positives, name
    # every value of every field occurs in train
    assert [int(frappe.train.x[:, f].max()) + 1 for f in range(10)] == frappe.field_dims
    assert int(frappe.train.x.min()) == 0


@needs_data
def test_frappe_val_test_are_the_nfm_files(frappe):
    offsets = np.concatenate([[0], np.cumsum(D.FRAPPE_DIMS)[:-1]])
    for name, fname in (("val", "frappe.validation.libfm"), ("test", "frappe.test.libfm")):
        split = getattr(frappe, name)
        text = (DATA_HOME / "frappe" / fname).read_text()
        expected = (split.x.numpy() + offsets).astype(str)
        labels = np.where(split.y.numpy() == 1, "1", "-1")
        lines = [
            " ".join([lab, *(f"{i}:1" for i in row)])
            for lab, row in zip(labels, expected, strict=True)
        ]
        assert "\n".join(lines) + "\n" == text  # the NFM file, byte for byte


@needs_data
def test_frappe_index_mapping_matches_the_raw_log(frappe, raw_log):
    raw = _counts(raw_log)
    held = _counts(np.concatenate([_rows(frappe.val, 1), _rows(frappe.test, 1)]))
    assert sum(held.values()) == 28_599
    assert held <= raw  # all validation/test positives are raw rows, as a multiset
    train_pos = _counts(_rows(frappe.train, 1))
    assert train_pos + held == raw  # train positives are exactly the rest of the log

    # no held-out positive is reused in train: the only rows in both are rows that the raw log
    # holds twice (same user, item and context logged with two counts), one copy on each side
    shared = set(held) & set(train_pos)
    assert len(shared) <= 8
    assert all(held[k] + train_pos[k] == raw[k] >= 2 for k in shared)


@needs_data
def test_frappe_train_negatives_follow_the_nfm_rule(frappe, raw_log):
    negs = np.concatenate([_rows(s, 0) for s in (frappe.train, frappe.val, frappe.test)])
    train_negs = _rows(frappe.train, 0)
    assert len(train_negs) == 134_423
    # the item is one the user never used anywhere in the log
    used = np.zeros((957, 4082), dtype=bool)
    used[raw_log[:, 0], raw_log[:, 1]] = True
    assert not used[train_negs[:, 0], train_negs[:, 1]].any()
    # (user, context) multiset: every raw row owns exactly 2 negatives across the three splits
    ctx = [0, *range(2, 10)]
    raw_ctx = _counts(raw_log, ctx)
    assert _counts(negs, ctx) == Counter({k: 2 * v for k, v in raw_ctx.items()})
    # like NFM's held-out negatives, no (user, item) pair repeats among all negatives
    assert len(_counts(negs, [0, 1])) == len(negs)


@needs_data
def test_frappe_rebuild_is_deterministic_and_seed_only_moves_negatives(frappe, tmp_path):
    again = D.load_frappe(DATA_HOME, cache_dir=tmp_path, progress=False)  # a fresh rebuild
    for name in ("train", "val", "test"):
        assert torch.equal(getattr(again, name).x, getattr(frappe, name).x)
        assert torch.equal(getattr(again, name).y, getattr(frappe, name).y)
    again.info["cache"].write_bytes(b"not an npz")  # a corrupt cache is rebuilt, not trusted
    with pytest.warns(UserWarning, match="not a readable npz.*rebuilt it"):
        rebuilt = D.load_frappe(DATA_HOME, cache_dir=tmp_path, progress=False)
    assert torch.equal(rebuilt.train.x, frappe.train.x)

    other = D.load_frappe(DATA_HOME, seed=7, cache_dir=tmp_path, progress=False)
    for name in ("val", "test"):
        assert torch.equal(getattr(other, name).x, getattr(frappe, name).x)
    assert torch.equal(other.train.y, frappe.train.y)
    pos = frappe.train.y == 1
    assert torch.equal(other.train.x[pos], frappe.train.x[pos])
    not_item = [f for f in range(10) if f != 1]
    assert torch.equal(other.train.x[~pos][:, not_item], frappe.train.x[~pos][:, not_item])
    changed = (other.train.x[~pos, 1] != frappe.train.x[~pos, 1]).float().mean().item()
    assert changed > 0.9


@needs_data
def test_frappe_second_call_reads_the_cache(frappe):
    cache = frappe.info["cache"]
    assert cache.exists() and DATA_HOME not in cache.parents
    start = time.perf_counter()
    second = D.load_frappe(DATA_HOME, cache_dir=cache.parent, progress=False)
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, f"cached load took {elapsed:.2f} s"
    assert torch.equal(second.train.x, frappe.train.x)
    print(f"load_frappe: first call {frappe.info['first_call_s']:.2f} s, second {elapsed:.2f} s")


def test_cache_dir_is_never_the_data_home(monkeypatch, tmp_path):
    assert D.get_cache_dir() == tmp_path / "derived"  # from the autouse fixture
    monkeypatch.delenv("CTR_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert D.get_cache_dir() == tmp_path / "xdg" / "ctr-course" / "derived"
        monkeypatch.delenv("CTR_DATA_HOME")
        assert D.get_data_home() == tmp_path / "xdg" / "ctr-course" / "data"
    assert D.get_data_home(tmp_path / "here") == tmp_path / "here"


def test_read_libfm_names_a_bad_line(tmp_path):
    path = tmp_path / "bad.libfm"
    path.write_text("1 0:1 957:1\n-1 0:1 5:1\n")
    with pytest.raises(ValueError, match=r"line 2: feature 5 is in position 2 .* 957\.\.5038"):
        D.read_libfm(path, field_dims=[957, 4082])


# ----------------------------------------------------------------------------------------------
# Criteo
# ----------------------------------------------------------------------------------------------


@needs_data
def test_criteo_sample_and_dac_reader_agree():
    frame = D.read_criteo_sample(progress=False)
    dac = D.read_criteo_dac(DATA_HOME / "criteo_sample" / "train.tiny.dac.txt")
    assert list(frame.columns) == ["label", *D.CRITEO_INT_COLUMNS, *D.CRITEO_CAT_COLUMNS]
    pd.testing.assert_frame_equal(frame, dac)
    assert len(frame) == 1999 and int(frame["label"].sum()) == 418
    assert frame["I1"].isna().mean() == pytest.approx(0.44, abs=0.005)
    assert frame["I12"].isna().mean() == pytest.approx(0.78, abs=0.005)
    assert frame["C1"].str.fullmatch(r"[0-9a-f]{8}").all()
    assert len(D.read_criteo_dac(DATA_HOME / "criteo_sample" / "train.tiny.dac.txt", nrows=5)) == 5


def test_read_criteo_dac_without_label(tmp_path):
    row = ["", "3", *[""] * 11, "abc", *[""] * 25]
    path = tmp_path / "test.txt"
    path.write_text("\t".join(row) + "\n")
    frame = D.read_criteo_dac(path, has_label=False)
    assert "label" not in frame.columns and frame.shape == (1, 39)
    assert np.isnan(frame.loc[0, "I1"]) and frame.loc[0, "I2"] == 3 and frame.loc[0, "C1"] == "abc"
    assert pd.isna(frame.loc[0, "C2"])


@needs_data
def test_deepctr_sample_reads_with_float_counts():
    frame = D.read_criteo_csv(DATA_HOME / "criteo_sample" / "deepctr_criteo_sample.csv")
    assert frame.shape == (200, 40) and int(frame["label"].sum()) == 49
    enc = D.FieldEncoder(D.CRITEO_INT_COLUMNS, D.CRITEO_CAT_COLUMNS).fit(frame)
    assert enc.transform(frame).shape == (200, 39)


def test_bucketize_counts_is_the_bars_rule():
    values = [float("nan"), -3, -1, 0, 1, 2, 2.5, 3, 4, 5, 10, 1382, 1_000_000]
    expected = [
        float("nan") if math.isnan(v) else (math.floor(math.log(v) ** 2) if v > 2 else int(v))
        for v in values
    ]
    out = D.bucketize_counts(values)
    np.testing.assert_array_equal(out, np.array(expected, dtype=float))
    assert out[-2] == 52  # floor(ln(1382)^2) = floor(52.3)


def _toy_frame(rows):
    return pd.DataFrame(rows, columns=["count", "site"])


def test_field_encoder_vocab_oov_missing_and_min_count():
    train = _toy_frame([[1, "a"], [1, "a"], [100, "b"], [None, "a"], [0, None], [100, "c"]])
    enc = D.FieldEncoder(["count"], ["site"], min_count=2).fit(train)
    assert enc.field_names == ["count", "site"]
    # count buckets: 1 (x2), floor(ln(100)^2) = 21 (x2), 0 (x1 < min_count); site: a (x3)
    assert enc.field_dims == [2 + 2, 2 + 1]
    test = _toy_frame([[1, "a"], [100, "c"], [None, None], [5000, "zzz"], [0, "b"]])
    x = enc.transform(test)
    assert x.dtype == torch.long
    assert x.tolist() == [
        [2, 2],  # most frequent known values get index 2
        [3, 0],  # "c" seen once in train: rare -> OOV
        [1, 1],  # missing has its own index
        [0, 0],  # unseen bucket / unseen value -> OOV
        [0, 0],  # 0 and "b" seen once: rare -> OOV
    ]


def test_field_encoder_is_fitted_on_train_only():
    train = _toy_frame([[1, "a"], [2, "b"]])
    test = _toy_frame([[1, "new"], [2, "b"]])
    enc = D.FieldEncoder(["count"], ["site"]).fit(train)
    before = enc.field_dims
    enc.transform(test)
    assert enc.field_dims == before  # transform never grows the vocabulary
    assert enc.transform(test)[0, 1].item() == D.FieldEncoder.OOV


def test_field_encoder_numeric_ids_match_across_dtypes():
    train = pd.DataFrame({"city": [369, 369, 12]})  # int64
    test = pd.DataFrame({"city": [369.0, None, 12.0, 7.0]})  # float64 because of the gap
    enc = D.FieldEncoder(categorical=["city"]).fit(train)
    assert enc.transform(test)[:, 0].tolist() == [2, 1, 3, 0]
    hashed = D.FieldEncoder(categorical=["city"], hash_buckets=64).fit(train)
    assert hashed.transform(test)[0, 0] == hashed.transform(train)[0, 0]


def test_field_encoder_hashing_trick():
    train = _toy_frame([[1, f"v{i}"] for i in range(50)])
    enc = D.FieldEncoder(["count"], ["site"], hash_buckets=8).fit(train)
    assert enc.field_dims[1] == 10
    x = enc.transform(_toy_frame([[1, "v3"], [1, "never-seen"], [1, None]]))
    assert 2 <= x[0, 1].item() < 10 and 2 <= x[1, 1].item() < 10  # unseen values hash too
    assert x[2, 1].item() == D.FieldEncoder.MISSING
    other = D.FieldEncoder(["count"], ["site"], hash_buckets=8).fit(train.iloc[:3])
    assert torch.equal(other.transform(train)[:, 1], enc.transform(train)[:, 1])
    expected = pd.util.hash_array(np.array(["v3"], dtype=object))[0] % 8 + 2
    assert x[0, 1].item() == expected  # a fixed hash, the same in every process


def test_field_encoder_errors_are_clear():
    enc = D.FieldEncoder(["count"], ["site"])
    frame = _toy_frame([[1, "a"]])
    with pytest.raises(RuntimeError, match=r"call \.fit\(train_frame\) first"):
        enc.transform(frame)
    with pytest.raises(RuntimeError, match="fit"):
        _ = enc.field_dims
    with pytest.raises(KeyError, match=r"\['site'\] not in the frame"):
        enc.fit(frame[["count"]])
    with pytest.raises(TypeError, match="expects a pandas DataFrame, got ndarray"):
        enc.fit(frame.to_numpy())
    bad = _toy_frame([[1, "a"], ["seven", "b"]])
    with pytest.raises(
        TypeError, match=r"numeric column 'count' holds a non-number, 'seven' at row 1"
    ):
        enc.fit(bad)
    enc.fit(frame)
    with pytest.raises(KeyError, match="count"):
        enc.transform(frame.rename(columns={"count": "clicks"}))
    with pytest.raises(ValueError, match="min_count"):
        D.FieldEncoder(["count"], min_count=0)
    with pytest.raises(ValueError, match="hash_buckets"):
        D.FieldEncoder(["count"], hash_buckets=0)
    with pytest.raises(ValueError, match="both numeric and categorical"):
        D.FieldEncoder(["count"], ["count"])
    with pytest.raises(TypeError, match="lists of column names"):
        D.FieldEncoder("count")


@needs_data
def test_load_criteo_sample_fits_on_train_only():
    ds = D.load_criteo_sample(progress=False)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (1599, 200, 200)
    assert len(ds.field_dims) == 39 and ds.field_names[0] == "I1" and ds.field_names[-1] == "C26"
    frame, idx = ds.info["frame"], ds.info["indices"]
    # C3 value counts in the train rows decide the vocabulary (min_count 2)
    counts = frame["C3"].iloc[idx["train"]].value_counts()
    assert ds.field_dims[13 + 2] == 2 + int((counts >= 2).sum())
    test_c3 = frame["C3"].iloc[idx["test"]].to_numpy()
    known = set(counts[counts >= 2].index)
    is_oov = np.array([v not in known and not pd.isna(v) for v in test_c3])
    assert torch.equal(ds.test.x[:, 15] == 0, torch.from_numpy(is_oov))
    assert ds.train.positive_rate == pytest.approx(frame["label"].iloc[idx["train"]].mean())
    hashed = D.load_criteo_sample(hash_buckets=1000, progress=False)
    assert hashed.field_dims[13:] == [1002] * 26


# ----------------------------------------------------------------------------------------------
# synthetic data
# ----------------------------------------------------------------------------------------------


def _lr_auc(ds: D.CTRDataset, cross: tuple[int, int] | None = None) -> float:
    """Test AUC of one-hot logistic regression, optionally with one cross feature."""

    def feats(x):
        x = x.numpy()
        if cross is not None:
            x = np.c_[x, x[:, cross[0]] * 10_000 + x[:, cross[1]]]
        return x

    enc = OneHotEncoder(handle_unknown="ignore").fit(feats(ds.train.x))
    model = LogisticRegression(max_iter=500).fit(enc.transform(feats(ds.train.x)), ds.train.y)
    return roc_auc_score(ds.test.y, model.predict_proba(enc.transform(feats(ds.test.x)))[:, 1])


def test_make_xor_needs_the_cross():
    ds = D.make_xor(20_000, seed=1)
    assert ds.field_names == ["age", "genre"] and ds.field_dims == [2, 2]
    bayes = roc_auc_score(ds.test.y, ds.info["p_true"]["test"])
    assert _lr_auc(ds) < 0.56 < 0.85 < _lr_auc(ds, cross=(0, 1))
    assert _lr_auc(ds, cross=(0, 1)) == pytest.approx(bayes, abs=0.02)
    x, y = ds.train
    for a in (0, 1):
        for g in (0, 1):
            cell = (x[:, 0] == a) & (x[:, 1] == g)
            assert y[cell].mean().item() == pytest.approx(ds.info["prob_table"][a, g], abs=0.03)


def test_make_xor_noise_fields():
    ds = D.make_xor(2_000, seed=0, n_noise_fields=3, noise_cardinality=5)
    assert ds.field_dims == [2, 2, 5, 5, 5] and ds.field_names[2] == "noise0"


@pytest.mark.parametrize("maker", [D.make_xor, D.make_pairwise, D.make_third_order, D.make_drift])
def test_generators_are_seeded_and_hit_the_positive_rate(maker):
    a, b, c = maker(20_000, seed=5), maker(20_000, seed=5), maker(20_000, seed=6)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    assert not torch.equal(a.train.x, c.train.x)
    rare = maker(40_000, seed=5, positive_rate=0.03)
    y = torch.cat([rare.train.y, rare.val.y, rare.test.y])
    assert y.mean().item() == pytest.approx(0.03, abs=0.006)
    p = np.concatenate([rare.info["p_true"][s] for s in ("train", "val", "test")])
    assert p.mean() == pytest.approx(0.03, abs=1e-4)


def test_make_pairwise_hides_pairs_from_train_and_logits_match_the_double_sum():
    ds = D.make_pairwise(20_000, seed=2, n_fields=3, cardinality=10, unseen_fraction=0.3)
    unseen = {tuple(p) for p in ds.info["unseen_pairs"].tolist()}
    assert len(unseen) == 30
    for split in (ds.train, ds.val):
        assert not any(tuple(p) in unseen for p in split.x[:, :2].tolist())
    test_pairs = [tuple(p) in unseen for p in ds.test.x[:, :2].tolist()]
    assert np.array_equal(ds.info["test_unseen"], np.array(test_pairs))
    assert ds.info["test_unseen"].mean() == pytest.approx(0.3, abs=0.05)
    # the slow, obvious FM formula with the planted weights
    w, V, b = ds.info["w"], ds.info["V"], ds.info["bias"]
    for row in range(5):
        x = ds.test.x[row].tolist()
        logit = b + sum(w[f, x[f]] for f in range(3))
        logit += sum(V[f, x[f]] @ V[g, x[g]] for f in range(3) for g in range(f + 1, 3))
        assert ds.info["logit_true"]["test"][row] == pytest.approx(logit)


def test_make_third_order_is_invisible_to_pairs():
    ds = D.make_third_order(30_000, seed=3, cardinality=3, strength=3.0)
    table = ds.info["table"]
    assert table.std() == pytest.approx(3.0)
    for axis in range(3):  # averaging over any one field leaves nothing
        np.testing.assert_allclose(table.mean(axis=axis), 0.0, atol=1e-12)
    bayes = roc_auc_score(ds.test.y, ds.info["p_true"]["test"])
    assert _lr_auc(ds, cross=(0, 1)) < bayes - 0.1  # a pairwise cross does not recover it


def test_make_drift_time_split_is_harder_than_random():
    by_time = D.make_drift(30_000, seed=4, split="time")
    shuffled = D.make_drift(30_000, seed=4, split="random")
    t = by_time.info["time"]
    assert t["train"].max() <= t["val"].min() and t["val"].max() <= t["test"].min()
    assert not t["train"].max() <= shuffled.info["time"]["test"].min()

    def rows(ds):
        x = torch.cat([ds.train.x, ds.val.x, ds.test.x])
        y = torch.cat([ds.train.y, ds.val.y, ds.test.y])
        return sorted(map(tuple, torch.cat([x, y[:, None].long()], 1).tolist()))

    assert rows(by_time) == rows(shuffled)  # same rows, only the split differs
    assert by_time.test.positive_rate > by_time.train.positive_rate  # the click rate drifts up
    assert _lr_auc(shuffled) > _lr_auc(by_time) + 0.03  # a random split flatters the model
    with pytest.raises(ValueError, match="split must be"):
        D.make_drift(100, split="shuffled")


# ----------------------------------------------------------------------------------------------
# splits
# ----------------------------------------------------------------------------------------------


def _numbered(n: int) -> D.CTRSplit:
    return D.CTRSplit(torch.arange(n)[:, None], torch.arange(n) % 2)


def test_random_split_partitions_reproducibly():
    data = _numbered(1000)
    parts = D.random_split(data, (0.7, 0.2, 0.1), seed=0)
    assert [len(p) for p in parts] == [700, 200, 100]
    ids = torch.cat([p.x[:, 0] for p in parts])
    assert sorted(ids.tolist()) == list(range(1000))
    again = D.random_split(data, (0.7, 0.2, 0.1), seed=0)
    other = D.random_split(data, (0.7, 0.2, 0.1), seed=1)
    assert torch.equal(again[0].x, parts[0].x) and not torch.equal(other[0].x, parts[0].x)
    train, test = D.random_split((data.x, data.y), (0.5, 0.5), seed=0)
    assert len(train) == len(test) == 500
    with pytest.raises(TypeError):
        D.random_split(data, (0.5, 0.5))  # the seed must be given
    with pytest.raises(ValueError, match="summing to 1"):
        D.random_split(data, (0.5, 0.4), seed=0)


def test_time_split_keeps_the_past_in_train():
    data = _numbered(10)
    train, val, test = D.time_split(data, (0.6, 0.2, 0.2))
    assert train.x[:, 0].tolist() == list(range(6)) and test.x[:, 0].tolist() == [8, 9]
    time_of_row = np.array([9, 8, 7, 6, 5, 4, 3, 2, 1, 0])  # newest first
    train, val, test = D.time_split(data, (0.6, 0.2, 0.2), time=time_of_row)
    assert test.x[:, 0].tolist() == [1, 0]
    with pytest.raises(ValueError, match="one value per row"):
        D.time_split(data, time=np.arange(3))
