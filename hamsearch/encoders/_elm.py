"""The extreme learning machine's output layer: closed-form ridge weights
(:func:`elm_output_weights`, D-ELM's eqs. 3, 4 and 10) and the paper's
ridge (:data:`DEFAULT_REG`)."""

from __future__ import annotations

import numpy as np

__all__ = ["DEFAULT_REG", "elm_output_weights"]


def elm_output_weights(H: np.ndarray, T: np.ndarray, reg: float):
    """Closed-form ELM output weights: the ridge solution of ``H beta ~ T``.

    ``beta`` solves the normal equations ``(H.T H + reg I) beta = H.T T``.
    With ``N`` samples and ``M`` hidden units it is computed in the cheaper of
    the two equivalent forms:

    * ``N > M`` ("primal"): ``beta = (H.T H + reg I_M)^-1 H.T T`` (an M x M solve),
    * ``N <= M`` ("dual"): ``beta = H.T (H H.T + reg I_N)^-1 T`` (an N x N solve).

    With ``reg = 1 / lambda`` this is the minimiser of D-ELM's eq. (3),
    ``lambda ||H beta - T||^2 + ||beta||^2``.  (The paper's eqs. (4) and (10)
    as printed pair the two forms with the opposite size conditions and
    write ``H.T H`` inside the dual inverse; both forms give the same
    ``beta``, so only the cost of the solve depends on the choice.)

    Returns
    -------
    beta : ndarray of float64, shape (M, n_targets)
    form : {"primal", "dual"}
    """
    H = np.asarray(H, dtype=np.float64)
    T = np.asarray(T, dtype=np.float64)
    n, m = H.shape
    if n > m:
        G = H.T @ H
        G[np.diag_indices_from(G)] += reg
        return np.linalg.solve(G, H.T @ T), "primal"
    K = H @ H.T
    K[np.diag_indices_from(K)] += reg
    return H.T @ np.linalg.solve(K, T), "dual"


#: The paper's ridge ``1 / lambda`` (lambda = 0.001, eq. 3) on 0..255
#: intensities, expressed for images scaled to [0, 1].
DEFAULT_REG = 1000.0 / 255.0 ** 2
