"""Each method's defining property as its seed paper states it (issue 17, docs/methods.md).

Small data only: these check the equations, not the retrieval quality.
"""

import importlib.util

import numpy as np
import pytest

from hamsearch.encoders import DeepELMHash
from hamsearch.encoders.delm import DEFAULT_REG, elm_output_weights, random_kernels

needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                 reason="needs torch")


# ----------------------------------------------------------------- D-ELM
@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, size=(120, 16, 16), dtype=np.uint8)


def test_delm_uniform_kernels_are_eqs_6_7():
    """rand(0, 1) weights, each kernel divided by its sum (a random weighted average)."""
    ks = random_kernels((8, 16, 32, 64), 1, 4, "uniform", random_state=0)
    assert [k.shape for k in ks] == [(8, 1, 4, 4), (16, 8, 4, 4), (32, 16, 4, 4),
                                     (64, 32, 4, 4)]
    for K in ks:
        assert (K >= 0).all()
        np.testing.assert_allclose(K.reshape(K.shape[0], -1).sum(axis=1), 1.0, rtol=1e-5)
    g = random_kernels((8,), 1, 4, "gaussian", random_state=0)[0]
    np.testing.assert_allclose(np.linalg.norm(g.reshape(8, -1), axis=1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="kernel_init"):
        random_kernels((8,), 1, 4, "orthogonal")


def test_delm_fit_uses_the_chosen_kernels(images):
    enc = DeepELMHash(nbits=16, kernel_init="uniform", random_state=0, engine="numpy")
    enc.fit(images)
    for K in enc.kernels_:
        np.testing.assert_allclose(K.reshape(K.shape[0], -1).sum(axis=1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="kernel_init"):
        DeepELMHash(nbits=16, kernel_init="nope").fit(images)


@pytest.mark.parametrize("n,m", [(60, 25), (25, 60)])
def test_elm_weights_minimise_eq_3(n, m):
    """beta minimises lambda ||H beta - Y||^2 + ||beta||^2 with reg = 1 / lambda."""
    rng = np.random.default_rng(n)
    H, Y = rng.normal(size=(n, m)), rng.normal(size=(n, 3))
    lam = 0.5
    beta, _ = elm_output_weights(H, Y, 1.0 / lam)
    grad = lam * H.T @ (H @ beta - Y) + beta  # half the gradient of eq. 3
    np.testing.assert_allclose(grad, 0.0, atol=1e-9)

    def objective(b):
        return lam * np.sum((H @ b - Y) ** 2) + np.sum(b ** 2)

    for _ in range(3):
        assert objective(beta) < objective(beta + 1e-3 * rng.normal(size=beta.shape))


def test_delm_default_ridge_is_the_papers_lambda_on_0_255_pixels(images):
    """lambda = 0.001 on 0..255 intensities (ridge 1000) == the default on [0, 1] images."""
    assert DEFAULT_REG == pytest.approx(1000.0 / 255 ** 2)
    ours = DeepELMHash(nbits=16, random_state=0, engine="numpy").fit(images)
    paper = DeepELMHash(nbits=16, random_state=0, engine="numpy", reg=1.0 / 0.001)
    paper.fit(images.astype(np.float32))  # float images are used as given: 0..255
    np.testing.assert_allclose(ours.beta_, paper.beta_, rtol=1e-3,
                               atol=1e-4 * np.abs(ours.beta_).max())


# ----------------------------------------------------------------- DeepHash
@needs_torch
def test_eq_7_linearises_the_per_bit_factor_exactly():
    import torch

    K = 12
    for y in (1.0, -1.0):
        Y = torch.tensor(y, dtype=torch.float64)
        c, c_prime = torch.cosh(Y / K), -torch.sinh(Y / K)
        for x in (1.0, -1.0):
            assert float(c + c_prime * x) == pytest.approx(float(torch.exp(-Y * x / K)))


@needs_torch
def test_bilinear_smoothing_equals_the_atomic_loss_when_saturated():
    """Eqs. 8-10 at large |p_i p_j|: the surrogate is the mean atomic loss of eq. 6."""
    import torch

    from hamsearch.encoders.deep import ExpCodeProductLoss

    g = torch.Generator().manual_seed(0)
    z = torch.randn(10, 8, generator=g, dtype=torch.float64) * 30.0
    z = torch.where(z.abs() < 3.0, torch.sign(z) * 3.0 + (z == 0), z)  # no tiny projections
    y = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3, 0, 1])
    loss = ExpCodeProductLoss(alpha=1.0, smoothing="bilinear")
    assert float(loss(z, y)) == pytest.approx(float(loss.atomic(z, y)), rel=1e-6)
    zg = z.clone().requires_grad_(True)
    loss(zg * 0.01, y).backward()  # differentiable where not saturated
    assert torch.isfinite(zg.grad).all() and zg.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="smoothing"):
        ExpCodeProductLoss(smoothing="cubic")


@needs_torch
def test_bilinear_smoothing_only_needs_the_product_large():
    """The paper's point against KSH-style smoothing: |p_i p_j| large is enough."""
    import torch

    from hamsearch.encoders.deep import ExpCodeProductLoss

    y = torch.tensor([0, 0])
    # bit products: p_i small (0.1), p_j huge (1000): product 100, saturated
    z = torch.tensor([[0.1], [1000.0]], dtype=torch.float64)
    bil = ExpCodeProductLoss(alpha=1.0, smoothing="bilinear")
    assert float(bil(z, y)) == pytest.approx(float(bil.atomic(z, y)), rel=1e-9)
    prod = ExpCodeProductLoss(alpha=1.0, smoothing="product")
    assert abs(float(prod(z, y)) - float(prod.atomic(z, y))) > 1e-3


@needs_torch
@pytest.mark.parametrize("strategy,names", [
    ("fine-tuning", ["softmax", "hash-init", "finetune"]),
    ("pre-training", ["softmax", "hash-init"]),
    ("random-init", ["finetune"]),
])
def test_table_3_strategies(strategy, names):
    from hamsearch.encoders.deep import ExpCodeProductHash

    m = ExpCodeProductHash(nbits=8, strategy=strategy, verbose=False)
    stages = m._stages(6)
    assert [s.name for s in stages] == names
    if strategy == "random-init":
        assert stages[0].epochs == 6 and stages[0].frozen is None


@needs_torch
def test_stage_2_learns_the_hash_layer_as_a_classifier():
    """Algorithm 1, line 10: the hash layer learns by classification on the fixed z."""
    import torch

    from hamsearch.encoders.deep import ExpCodeProductHash

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (48, 12, 12), dtype=np.uint8)
    y = np.arange(48) % 3
    m = ExpCodeProductHash(nbits=8, verbose=False)
    assert m.hash_init == "classification"
    m.fit(x, y, epochs=2, batch_size=16)
    stage = m._stages(2)[1]
    trained = {id(p) for p in stage.trainable(m.net_)}
    assert trained == {id(p) for p in list(m.net_.hash_layer.parameters())
                       + list(m.net_.hash_classifier.parameters())}
    assert stage.frozen(m.net_) == [m.net_.backbone]
    out = m.net_.head(torch.randn(5, m.net_.backbone.feature_dim))
    assert out["hash_logits"].shape == (5, 3)
    assert m.encode(x).shape == (48, 1)
    with pytest.raises(ValueError, match="hash_init"):
        ExpCodeProductHash(nbits=8, hash_init="nope", verbose=False)._stages(4)


@needs_torch
def test_model_files_from_before_hash_init_load_as_hash_loss(tmp_path):
    import torch

    from hamsearch.encoders.deep import ExpCodeProductHash, load_model

    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (32, 12, 12), dtype=np.uint8)
    y = np.arange(32) % 2
    m = ExpCodeProductHash(nbits=8, hash_init="hash-loss", verbose=False)
    m.fit(x, y, epochs=2, batch_size=16)
    path = tmp_path / "old.pt"
    m.save(path)
    blob = torch.load(path, weights_only=True)
    for key in ("hash_init", "smoothing", "strategy"):
        blob["params"].pop(key)  # what a file written before issue 17 holds
    torch.save(blob, path)
    old = load_model(path)
    assert old.hash_init == "hash-loss" and old.net_.hash_classifier is None
    np.testing.assert_array_equal(old.encode(x), m.encode(x))


# ----------------------------------------------------------------- LDH
def test_ldh_keeps_smallest_non_zero_eigenvalues_and_median_thresholds():
    from hamsearch.encoders import LaplacianEigenmapHash

    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (60, 5)), rng.normal(8, 1, (60, 5))])
    le = LaplacianEigenmapHash(nbits=8, n_neighbors=10, random_state=0).fit(X)
    assert le.n_neighbors == 10 and le.n_components_dropped_ >= 1
    assert (le.eigenvalues_ > 1e-8).all() and (np.diff(le.eigenvalues_) >= -1e-10).all()
    # L v = lambda D v for every kept vector
    W = le.affinity_.toarray()
    D = np.diag(W.sum(axis=1))
    L = D - W
    for b in range(8):
        v = le.embedding_[:, b]
        np.testing.assert_allclose(L @ v, le.eigenvalues_[b] * (D @ v), atol=1e-6)
    np.testing.assert_allclose(le.thresholds_, np.median(le.embedding_, axis=0))


# ----------------------------------------------------------------- the protocol
def test_database_shuffle_is_seeded_and_keeps_the_split():
    from hamsearch.evaluation import prepare_data, shuffle_database

    a = prepare_data("digits", per_class=10, seed=3)
    b = prepare_data("digits", per_class=10, seed=3, shuffle=False)
    np.testing.assert_array_equal(a["query"], b["query"])
    np.testing.assert_array_equal(np.sort(a["database"]), b["database"])
    assert (a["database"] != b["database"]).any()
    assert a["database_order"] == "shuffled" and b["database_order"] == "stored"
    np.testing.assert_array_equal(a["database"], shuffle_database(b["database"], 3))


def test_protocol_reports_tie_aware_and_stored_order_figures():
    from hamsearch.evaluation import evaluate_method, prepare_data
    from hamsearch.metrics import mean_average_precision, precision_at_k

    data = prepare_data("digits", per_class=10)
    r = evaluate_method(data, "lsh", 8, stored_order=True)
    assert {"map_tie", "p_at_1000_tie", "precision_at_k_tie", "map_stored",
            "precision_at_k_stored"} <= set(r)
    # the figures of the database in stored order, scored directly
    from hamsearch.encoders.registry import encode_with, get_method
    from hamsearch.evaluation import method_inputs

    X = method_inputs(data["images"], "features")
    enc = get_method("lsh").factory(8, 0).fit(X[np.sort(data["database"])])
    q, db = data["query"], np.sort(data["database"])
    qc, dc = encode_with(enc, X[q]), encode_with(enc, X[db])
    lab = data["labels"]
    assert r["map_stored"] == pytest.approx(mean_average_precision(qc, dc, lab[q], lab[db]))
    assert r["map_tie"] == pytest.approx(mean_average_precision(qc, dc, lab[q], lab[db],
                                                                ties="average"))
    assert r["precision_at_k_stored"][10] == pytest.approx(
        precision_at_k(qc, dc, lab[q], lab[db], k=10))


def test_training_set_does_not_depend_on_the_database_order():
    """The shuffle changes the ranking of ties only: the trained model is the same."""
    from hamsearch.evaluation import evaluate_method, prepare_data

    a = evaluate_method(prepare_data("digits", per_class=10), "itq", 16)
    b = evaluate_method(prepare_data("digits", per_class=10, shuffle=False), "itq", 16)
    assert a["map_tie"] == pytest.approx(b["map_tie"])
    assert a["n_train"] == b["n_train"]


def test_deep_table_helpers():
    from bench import deep_table

    assert deep_table.parse_options("strategy=random-init,alpha=4,balanced=false,x=0.5") == {
        "strategy": "random-init", "alpha": 4, "balanced": False, "x": 0.5}
    assert deep_table.row_key("mnist-5k", 48, "exploss", "t") == "mnist-5k|48|exploss|t"
    assert deep_table.row_key("mnist-5k", 48, "exploss") == "mnist-5k|48|exploss"
    labels = np.repeat(np.arange(3), 120)
    q, db, train = deep_table.split_database(labels, 0)
    assert len(q) == 300 and (np.diff(train) > 0).all()
    np.testing.assert_array_equal(np.sort(db), train)
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, (360, 1), dtype=np.uint8)
    s = deep_table.retrieval_scores(codes[q], codes[db], labels[q], labels[db], 8)
    assert {"map", "map_tie", "p_at_1", "p_at_1_tie", "p_at_10", "p_at_60_tie"} <= set(s)


def test_shallow_table_writes_tie_aware_and_ties_tables(tmp_path):
    from bench import shallow_table

    out = tmp_path / "shallow.md"
    shallow_table.main(["--datasets", "digits", "--methods", "itq,lsh", "--bits", "16,32",
                        "--ties-bits", "16", "--out", str(out)])
    text = out.read_text()
    assert "### mAP, tie-aware" in text and "What the order of ties moves (16 bits)" in text
    ties = text.split("What the order of ties moves (16 bits)")[1]
    assert "| ITQ | " in ties and ties.count(" / ") >= 2 * 5
    assert "literature:begin" in text
