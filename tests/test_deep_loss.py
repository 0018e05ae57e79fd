"""ExpCodeProductLoss: analytic gradient vs autograd, and its defining identities."""

import pytest

torch = pytest.importorskip("torch")

from hamsearch.encoders.deep import ExpCodeProductLoss  # noqa: E402
from hamsearch.encoders.deep.losses import (  # noqa: E402
    _SmoothedExpLoss,
    leave_one_out_weights,
    similarity_from_labels,
)


def _problem(seed=0, n=9, k=6):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, k, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 3, (n,), generator=g)
    return z, y


@pytest.mark.parametrize("balanced", [True, False])
@pytest.mark.parametrize("alpha", [0.5, 2.0])
def test_analytic_gradient_matches_autograd_of_smoothed_loss(balanced, alpha):
    z, y = _problem()
    loss = ExpCodeProductLoss(alpha=alpha, balanced=balanced)
    fast = loss(z, y)
    (g_fast,) = torch.autograd.grad(fast, z)
    ref = loss.smoothed_reference(z, y)
    (g_ref,) = torch.autograd.grad(ref, z)
    assert torch.allclose(fast, ref, rtol=1e-12, atol=1e-14)
    assert torch.allclose(g_fast, g_ref, rtol=1e-10, atol=1e-13)
    assert g_fast.abs().max() > 0


def test_gradcheck_custom_backward():
    z, y = _problem(seed=1, n=6, k=4)
    loss = ExpCodeProductLoss(alpha=1.3)
    Y, M, W = loss._pair_terms(z, y, None)
    assert torch.autograd.gradcheck(lambda zz: _SmoothedExpLoss.apply(zz, Y, M, W, 1.3), (z,))


def test_leave_one_out_weights_recompose_the_atomic_loss():
    z, y = _problem(seed=2)
    Y = similarity_from_labels(y)
    W = leave_one_out_weights(z, Y)
    b = torch.where(z.detach() >= 0, 1.0, -1.0).to(torch.float64)
    K = z.shape[1]
    atomic = torch.exp(-Y * (b @ b.T) / K)
    for k in range(K):
        per_bit = torch.exp(-Y * torch.outer(b[:, k], b[:, k]) / K)
        assert torch.allclose(W[k] * per_bit, atomic)


def test_smoothed_loss_tends_to_atomic_loss_when_saturated():
    z, y = _problem(seed=3)
    loss = ExpCodeProductLoss(alpha=1.0)
    big = z.detach().sign() * 60.0
    assert torch.allclose(loss(big, y), loss.atomic(big, y), rtol=1e-9)
    soft = z.detach() * 0.1
    assert not torch.allclose(loss(soft, y), loss.atomic(soft, y), rtol=1e-3)


def test_similarity_matrix_argument_equals_labels():
    z, y = _problem(seed=4)
    loss = ExpCodeProductLoss()
    a = loss(z, y)
    b = loss(z, similarity=similarity_from_labels(y))
    assert torch.allclose(a, b)


def test_descent_on_codes_lowers_atomic_loss():
    z, y = _problem(seed=5, n=12, k=8)
    z = z.detach().clone().requires_grad_(True)
    loss = ExpCodeProductLoss(alpha=2.0)
    opt = torch.optim.SGD([z], lr=5.0)
    before = loss.atomic(z, y).item()
    for _ in range(100):
        opt.zero_grad()
        loss(z, y).backward()
        opt.step()
    assert loss.atomic(z, y).item() < before


def test_bad_arguments():
    with pytest.raises(ValueError, match="alpha"):
        ExpCodeProductLoss(alpha=0)
    loss = ExpCodeProductLoss()
    with pytest.raises(ValueError, match="2-D"):
        loss(torch.zeros(4), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="similarity"):
        loss(torch.zeros(4, 8), similarity=torch.ones(3, 3))
