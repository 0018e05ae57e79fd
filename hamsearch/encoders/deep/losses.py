"""The exponentiated code-product loss of DeepHash, smoothed for training.

Our reading of the paper's equations 7-10 (we reconstruct them; the notation
is ours)
-----------------------------------------------------------------------------
For ``K``-bit codes ``b_i = sign(z_i)`` in {-1, +1}^K of a pair with
similarity ``Y_ij`` (+1 same class, -1 otherwise) the atomic loss is

    l_ij = exp(-Y_ij * b_i . b_j / K)                                (atomic)

It is not differentiable in ``z``.  Split the code product bit by bit,
``b_i . b_j = b_ik b_jk + sum_{l != k} b_il b_jl``, so that

    l_ij = w_ij^(k) * exp(-Y_ij b_ik b_jk / K),
    w_ij^(k) = exp(-Y_ij * (b_i . b_j - b_ik b_jk) / K)          (leave-one-out)

``w_ij^(k)`` is the per-bit leave-one-out weight: how badly the pair is
served by all the *other* bits, computed from the current hard codes and
held constant (as in boosting, where each weak learner sees the weights the
others leave).  Only bit ``k``'s own product is then smoothed, bilinearly:

    b_ik b_jk  ~  s_ik s_jk,    s = 2 * sigmoid(alpha * z) - 1 = tanh(alpha z / 2)

(the product of two sigmoid-smoothed signs: bilinear in the smoothed bits).
The smoothed objective averages the per-bit surrogates over bits and pairs:

    L = 1/K * sum_k sum_{i != j} m_ij * w_ij^(k) * exp(-Y_ij s_ik s_jk / K)

with pair weights ``m_ij`` summing to 1.  At saturated bits (``s = b``) every
per-bit term equals ``l_ij``, so L equals the mean atomic loss exactly.
``m_ij`` is uniform over ordered pairs ``i != j`` or, with
``balanced=True`` (our addition, the default), half the mass on similar and
half on dissimilar pairs -- with 10 classes 90 % of the pairs are
dissimilar and would otherwise swamp the similar ones.

Gradient (implemented in a custom autograd function and tested against
autograd of the formula above): with ``E_ij^(k) = exp(-Y_ij s_ik s_jk / K)``
and ``G^(k) = m * Y * w^(k) * E^(k)`` (element-wise, symmetric),

    dL/ds_ik = -2 / K^2 * sum_j G_ij^(k) s_jk,
    dL/dz_ik = dL/ds_ik * alpha / 2 * (1 - s_ik^2).

The paper's own smoothing (``smoothing="bilinear"``)
----------------------------------------------------
With the paper's text at hand (``shared/seeds``, DeepHash eqs. 7-10), its
smoothing differs from the reading above in two places:

* eq. 7 writes the per-bit factor exactly, as a line through its two
  values: ``exp(-Y_ij b_ik b_jk / K) = c_ij + c'_ij b_ik b_jk`` with
  ``c = cosh(Y/K)`` and ``c' = -sinh(Y/K)`` (for ``b_ik b_jk`` in {-1, 1});
* eq. 8 smooths the bit *product* with one sigmoid of the product of the
  two projections, ``b_ik b_jk ~ 2 sigma(p_ik p_jk) - 1`` (``p = w_k . z``),
  instead of multiplying two smoothed signs; the paper stresses that this
  needs only ``|p_ik p_jk|`` to be large, not both ``|p_ik|`` and ``|p_jk|``.

Eqs. 9-10 then give

    L = 1/K * sum_k sum_{i != j} m_ij * w_ij^(k) * (c_ij + c'_ij (2 sigma(alpha p_ik p_jk) - 1))

(``alpha`` = 1 is the paper's; it is kept as a scale of the product).  This
is :func:`bilinear_smoothed_loss`, written with autograd ops.  At saturated
products it equals the mean atomic loss too.  ``"product"`` stays the
default: it is the measured choice (see ``docs/methods.md``).
"""

from __future__ import annotations

import torch
from torch import nn


def similarity_from_labels(labels: torch.Tensor) -> torch.Tensor:
    """+1 / -1 pair similarity from class labels (n,) or multi-hot (n, C)."""
    if labels.ndim == 1:
        same = labels[:, None] == labels[None, :]
    else:
        lab = labels.to(torch.float32)
        same = (lab @ lab.T) > 0
    return same.to(torch.float64) * 2.0 - 1.0


def pair_weights(Y: torch.Tensor, balanced: bool) -> torch.Tensor:
    """Weights ``m_ij`` over ordered pairs i != j, summing to 1."""
    n = Y.shape[0]
    off = 1.0 - torch.eye(n, dtype=Y.dtype, device=Y.device)
    if not balanced:
        return off / off.sum().clamp_min(1.0)
    pos = (Y > 0).to(Y.dtype) * off
    neg = (Y < 0).to(Y.dtype) * off
    npos, nneg = pos.sum(), neg.sum()
    if npos == 0 or nneg == 0:
        return off / off.sum().clamp_min(1.0)
    return 0.5 * pos / npos + 0.5 * neg / nneg


def leave_one_out_weights(z: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """``w^(k)_ij`` of shape (K, n, n) from the hard codes ``sign(z)`` (no grad)."""
    K = z.shape[1]
    b = torch.where(z.detach() >= 0, 1.0, -1.0).to(Y.dtype)
    P = b @ b.T
    per_bit = b.T[:, :, None] * b.T[:, None, :]  # (K, n, n): b_ik b_jk
    return torch.exp(-Y[None] * (P[None] - per_bit) / K)


class _SmoothedExpLoss(torch.autograd.Function):
    """L(z) with the analytic gradient of the module docstring."""

    @staticmethod
    def forward(ctx, z, Y, M, W, alpha):
        K = z.shape[1]
        s = torch.tanh(alpha * z / 2.0)  # (n, K)
        st = s.T  # (K, n)
        E = torch.exp(-Y[None] * st[:, :, None] * st[:, None, :] / K)  # (K, n, n)
        MWE = M[None] * W * E
        loss = MWE.sum() / K
        ctx.save_for_backward(s, Y, MWE)
        ctx.alpha = alpha
        return loss

    @staticmethod
    def backward(ctx, grad_out):
        s, Y, MWE = ctx.saved_tensors
        K = s.shape[1]
        G = Y[None] * MWE  # (K, n, n)
        # dL/ds_ik = -2/K^2 * sum_j G_ij^(k) s_jk
        grad_s = (-2.0 / (K * K)) * torch.einsum("kij,jk->ik", G, s)
        grad_z = grad_s * (ctx.alpha / 2.0) * (1.0 - s * s)
        return grad_out * grad_z, None, None, None, None


def bilinear_smoothed_loss(z: torch.Tensor, Y: torch.Tensor, M: torch.Tensor, W: torch.Tensor,
                           alpha: float = 1.0) -> torch.Tensor:
    """DeepHash's eqs. 9-10: the per-bit linearised loss of the bilinear sigmoid.

    Parameters
    ----------
    z : Tensor of shape (n, K)
        Hash-layer projections ``p_ik = w_k . z_i``.
    Y : Tensor of shape (n, n)
        +1 / -1 pair similarity.
    M : Tensor of shape (n, n)
        Pair weights ``m_ij`` (:func:`pair_weights`).
    W : Tensor of shape (K, n, n)
        Leave-one-out weights (:func:`leave_one_out_weights`, no gradient).
    alpha : float
        Scale inside the sigmoid (1 in the paper).

    Returns
    -------
    Tensor (scalar)
    """
    K = z.shape[1]
    zt = z.T  # (K, n)
    x = 2.0 * torch.sigmoid(alpha * zt[:, :, None] * zt[:, None, :]) - 1.0  # ~ b_ik b_jk
    c = torch.cosh(Y / K)
    c_prime = -torch.sinh(Y / K)
    return (M[None] * W * (c[None] + c_prime[None] * x)).sum() / K


SMOOTHINGS = ("product", "bilinear")


class ExpCodeProductLoss(nn.Module):
    """DeepHash's exponentiated code-product loss, sigmoid-smoothed per bit.

    Parameters
    ----------
    alpha : float
        Steepness of the sigmoid that smooths ``sign`` (``s = tanh(alpha z / 2)``).
    balanced : bool
        Give similar and dissimilar pairs equal total weight (default True).
    smoothing : {"product", "bilinear"}
        ``"product"`` (default): ``exp(-Y s_ik s_jk / K)`` of two smoothed
        signs (our reading, measured); ``"bilinear"``: the paper's eqs. 7-9,
        ``c + c' (2 sigma(alpha p_ik p_jk) - 1)`` (see the module docstring).

    Call with ``loss(z, labels)`` where ``z`` are the hash layer's
    pre-activations ``(n, K)`` and ``labels`` class indices ``(n,)`` (or
    multi-hot ``(n, C)``), or ``loss(z, similarity=Y)`` with a +1/-1 matrix.
    See the module docstring for the equations and our reading of them.

    Examples
    --------
    >>> import torch
    >>> from hamsearch.encoders.deep import ExpCodeProductLoss
    >>> z = torch.randn(8, 16, requires_grad=True)
    >>> loss = ExpCodeProductLoss()(z, torch.tensor([0, 0, 1, 1, 2, 2, 3, 3]))
    >>> loss.backward()
    """

    def __init__(self, alpha: float = 1.0, balanced: bool = True, smoothing: str = "product"):
        super().__init__()
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        if smoothing not in SMOOTHINGS:
            raise ValueError(f"smoothing must be one of {SMOOTHINGS}, got {smoothing!r}")
        self.alpha = float(alpha)
        self.balanced = bool(balanced)
        self.smoothing = smoothing

    def _pair_terms(self, z, labels, similarity):
        if z.ndim != 2:
            raise ValueError(f"z must be 2-D (n, nbits), got shape {tuple(z.shape)}")
        dtype = z.dtype if z.dtype == torch.float64 else torch.float32
        if similarity is None:
            if labels is None:
                raise ValueError("pass labels or similarity")
            Y = similarity_from_labels(labels.to(z.device)).to(dtype)
        else:
            Y = similarity.to(device=z.device, dtype=dtype)
        if Y.shape != (z.shape[0], z.shape[0]):
            raise ValueError(f"similarity must be ({z.shape[0]}, {z.shape[0]}), got {tuple(Y.shape)}")
        M = pair_weights(Y, self.balanced)
        W = leave_one_out_weights(z, Y)
        return Y, M, W

    def forward(self, z: torch.Tensor, labels=None, similarity=None) -> torch.Tensor:
        zz = z if z.dtype == torch.float64 else z.float()
        Y, M, W = self._pair_terms(zz, labels, similarity)
        if self.smoothing == "bilinear":
            return bilinear_smoothed_loss(zz, Y, M, W, self.alpha)
        return _SmoothedExpLoss.apply(zz, Y, M, W, self.alpha)

    def smoothed_reference(self, z: torch.Tensor, labels=None, similarity=None) -> torch.Tensor:
        """The same smoothed objective written with plain autograd ops (for tests)."""
        Y, M, W = self._pair_terms(z, labels, similarity)
        K = z.shape[1]
        s = 2.0 * torch.sigmoid(self.alpha * z) - 1.0
        total = z.new_zeros(())
        for k in range(K):
            prod = s[:, k][:, None] * s[:, k][None, :]
            total = total + (M * W[k] * torch.exp(-Y * prod / K)).sum()
        return total / K

    def atomic(self, z: torch.Tensor, labels=None, similarity=None) -> torch.Tensor:
        """The un-smoothed loss ``sum m_ij exp(-Y_ij b_i.b_j / K)`` at ``b = sign(z)``."""
        Y, M, _ = self._pair_terms(z.detach(), labels, similarity)
        b = torch.where(z.detach() >= 0, 1.0, -1.0).to(Y.dtype)
        return (M * torch.exp(-Y * (b @ b.T) / z.shape[1])).sum()
