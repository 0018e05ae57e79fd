"""Laplacian-eigenmap hashing (the shallow half of Laplacian Deep Hash, LDH)."""

from __future__ import annotations

import numbers

import numpy as np

from ._base import BaseHasher, check_random_state

__all__ = ["LaplacianEigenmapHash", "knn_affinity"]

#: Largest value of d**2 / t fed to exp(): keeps every graph edge positive.
_MAX_EXPONENT = 50.0


def _heat(sq_dist, bandwidth):
    return np.exp(-np.minimum(sq_dist / bandwidth, _MAX_EXPONENT))


def knn_affinity(X, n_neighbors, weights="heat"):
    """Symmetric sparse kNN affinity matrix of the rows of ``X``.

    Each point is joined to its ``n_neighbors`` nearest other points
    (Euclidean, scikit-learn :class:`~sklearn.neighbors.NearestNeighbors`);
    the graph is symmetrised with ``W = max(W, W.T)`` (an edge exists if
    either end lists the other).

    Parameters
    ----------
    X : ndarray of shape (n, d)
    n_neighbors : int
    weights : {"heat", "binary"}
        ``"heat"``: ``exp(-||x_i - x_j||**2 / t)`` with ``t`` the mean squared
        kNN distance (a scale-free choice of the heat-kernel width);
        ``"binary"``: 1 on every edge.

    Returns
    -------
    W : scipy.sparse.csr_matrix of shape (n, n)
    nn : fitted NearestNeighbors
    bandwidth : float
        ``t`` (1.0 for binary weights).
    """
    import scipy.sparse as sp
    from sklearn.neighbors import NearestNeighbors

    n = X.shape[0]
    nn = NearestNeighbors(n_neighbors=n_neighbors).fit(X)
    dist, ind = nn.kneighbors()  # excludes each point itself
    sq = dist.astype(np.float64) ** 2
    if weights == "heat":
        bandwidth = float(sq.mean())
        if not bandwidth > 0:
            bandwidth = 1.0
        w = _heat(sq, bandwidth)
    else:
        bandwidth = 1.0
        w = np.ones_like(sq)
    indptr = np.arange(0, n * n_neighbors + 1, n_neighbors)
    W = sp.csr_matrix((w.ravel(), ind.ravel(), indptr), shape=(n, n))
    W = W.maximum(W.T).tocsr()
    return W, nn, bandwidth


class LaplacianEigenmapHash(BaseHasher):
    """Hashing by thresholded Laplacian eigenmaps of a kNN graph.

    Fitting:

    1. a sparse kNN graph ``W`` of the training points (``n_neighbors``
       neighbours, symmetrised, heat-kernel or binary weights, see
       :func:`knn_affinity`), degree matrix ``D``, Laplacian ``L = D - W``;
    2. the generalised eigenproblem ``L v = lambda D v``, solved sparsely as
       the largest eigenpairs of ``D^-1/2 W D^-1/2`` with ARPACK
       (:func:`scipy.sparse.linalg.eigsh`) after deflating its known
       eigenvalue-1 space (``sqrt(D)`` times each connected component's
       indicator, found with :func:`scipy.sparse.csgraph.connected_components`);
       ``v = D^-1/2 u``, normalised so that ``v.T D v = 1``;
    3. the ``nbits`` eigenvectors with the smallest non-zero eigenvalues are
       kept: eigenvalue 0 belongs to the constant vector (one per connected
       component of the graph), which carries no information and is dropped.
       With ``keep_components=True`` only the global constant direction is
       dropped and the rest of the null space -- vectors constant on each
       connected component, which separate components perfectly -- is kept
       as the first bits;
    4. bit ``b`` = ``v_b > theta_b`` with ``theta_b`` the median of ``v_b``
       over the training set, so every bit is balanced on the training data.

    Out-of-sample extension (:meth:`transform`): a new point ``x`` gets the
    kernel-weighted average of the embeddings of its ``n_neighbors`` nearest
    training points, divided by ``1 - lambda_b``:

        ``v_b(x) = sum_j w(x, x_j) v_b(x_j) / ((1 - lambda_b) sum_j w(x, x_j))``

    This is the Nystrom extension of the random-walk form of the eigenproblem:
    ``L v = lambda D v`` is ``D^-1 W v = (1 - lambda) v``, i.e. every training
    embedding already equals that weighted average over its graph neighbours
    divided by ``1 - lambda``.  The formula therefore reproduces the training
    embedding when the query's neighbours are its graph neighbours, needs only
    a kNN query (no eigen-solve), and uses the same kernel as the graph, which
    is why it is used here rather than, e.g., a linear regression onto the
    embedding.  (``1 - lambda`` is floored at 0.05 to stay positive.)

    Parameters
    ----------
    nbits : int, default=64
        Code length, a positive multiple of 8, smaller than ``n_samples``.
    n_neighbors : int, default=10
        Neighbours per point in the graph and in the out-of-sample extension.
    weights : {"heat", "binary"}, default="heat"
        Edge weights, see :func:`knn_affinity`.
    tol : float, default=1e-8
        ARPACK convergence tolerance.
    keep_components : bool, default=False
        For a disconnected graph, keep the component-indicator part of the
        null space (see step 3) instead of dropping every zero eigenvalue.
    random_state : None, int or numpy.random.RandomState, default=None
        Seed of ARPACK's start vector.

    Attributes
    ----------
    embedding_ : ndarray of shape (n_train, nbits)
        Generalised eigenvectors ``v_b`` (columns), by increasing eigenvalue.
    eigenvalues_ : ndarray of shape (nbits,)
    thresholds_ : ndarray of shape (nbits,)
        Per-bit medians ``theta_b`` of ``embedding_``.
    affinity_ : scipy.sparse.csr_matrix of shape (n_train, n_train)
        The graph ``W``.
    bandwidth_ : float
        Heat-kernel width ``t``.
    nn_ : sklearn.neighbors.NearestNeighbors
        Fitted on the training data (used by :meth:`transform`).
    n_components_dropped_ : int
        Number of (near-)zero eigenvalues found: the number of connected
        components of the graph (all dropped unless ``keep_components``).
    n_features_in_ : int
    nbits_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from hamsearch.encoders import LaplacianEigenmapHash
    >>> X = np.random.default_rng(0).normal(size=(300, 8))
    >>> le = LaplacianEigenmapHash(nbits=8, random_state=0).fit(X)
    >>> le.transform(X[:5]).shape
    (5, 1)
    """

    def __init__(self, nbits=64, n_neighbors=10, weights="heat", tol=1e-8,
                 keep_components=False, random_state=None):
        self.nbits = nbits
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.tol = tol
        self.keep_components = keep_components
        self.random_state = random_state

    def _check_params(self, n):
        if isinstance(self.n_neighbors, bool) or not isinstance(
            self.n_neighbors, numbers.Integral
        ) or self.n_neighbors < 1:
            raise ValueError(f"n_neighbors must be a positive int, got {self.n_neighbors!r}")
        if self.n_neighbors >= n:
            raise ValueError(
                f"n_neighbors={self.n_neighbors} must be smaller than n_samples={n}"
            )
        if self.weights not in ("heat", "binary"):
            raise ValueError(f"weights must be 'heat' or 'binary', got {self.weights!r}")

    def _fit(self, X, y, nbits):
        import scipy.sparse as sp
        from scipy.sparse.csgraph import connected_components
        from scipy.sparse.linalg import LinearOperator, eigsh

        n = X.shape[0]
        self._check_params(n)
        if nbits + 1 >= n:
            raise ValueError(
                f"LaplacianEigenmapHash needs nbits + 1 < n_samples; got nbits={nbits} "
                f"with {n} samples"
            )
        rng = check_random_state(self.random_state)
        W, nn, bandwidth = knn_affinity(X, int(self.n_neighbors), self.weights)
        deg = np.asarray(W.sum(axis=1)).ravel()
        d_isqrt = 1.0 / np.sqrt(deg)
        S = sp.diags(d_isqrt) @ W @ sp.diags(d_isqrt)
        S = S.tocsr()

        # The null space of the normalised Laplacian is known: sqrt(D) times
        # the indicator of each connected component.  Deflating it from S
        # (eigenvalue 1 of S <-> lambda = 0) lets ARPACK look only for the
        # non-trivial eigenpairs; Lanczos alone cannot resolve a repeated
        # eigenvalue reliably, so a disconnected graph would otherwise lose
        # some of its null vectors.
        n_comp, comp = connected_components(W, directed=False)
        sq = np.sqrt(deg)
        null = np.zeros((n, n_comp))
        null[np.arange(n), comp] = sq
        null /= np.linalg.norm(null, axis=0)
        extra = np.zeros((n, 0))
        if self.keep_components and n_comp > 1:
            u_c = sq / np.linalg.norm(sq)
            Q, _, _ = np.linalg.svd(null - np.outer(u_c, u_c @ null), full_matrices=False)
            extra = Q[:, : min(n_comp - 1, nbits)]
        n_solve = nbits - extra.shape[1]
        if n_solve + n_comp >= n:
            raise ValueError(
                f"the kNN graph of {n} samples has {n_comp} connected components, too "
                f"many for {nbits} bits; use more samples or n_neighbors"
            )
        lam = np.zeros(0)
        U = np.zeros((n, 0))
        if n_solve > 0:
            op = LinearOperator(
                (n, n), matvec=lambda x: S @ x - null @ (null.T @ x), dtype=np.float64
            )
            v0 = rng.uniform(-1.0, 1.0, n)
            mu, U = eigsh(op, k=n_solve, which="LA", v0=v0, tol=self.tol)
            lam = 1.0 - mu
            order = np.argsort(lam)
            lam, U = lam[order], U[:, order]
        U = np.concatenate([extra, U], axis=1)
        lam = np.concatenate([np.zeros(extra.shape[1]), lam])
        n_zero = n_comp
        keep = np.arange(nbits)
        V = U[:, keep] * d_isqrt[:, None]  # v = D^-1/2 u, so v.T D v = 1
        self.embedding_ = V
        self.eigenvalues_ = lam[keep]
        self.thresholds_ = np.median(V, axis=0)
        self.affinity_ = W
        self.bandwidth_ = bandwidth
        self.nn_ = nn
        self.n_components_dropped_ = n_zero

    def _project(self, X):
        k = int(self.n_neighbors)
        scale = 1.0 / np.maximum(1.0 - self.eigenvalues_, 0.05)
        out = np.empty((X.shape[0], self.embedding_.shape[1]))
        block = 4096
        for start in range(0, X.shape[0], block):
            dist, ind = self.nn_.kneighbors(X[start : start + block], n_neighbors=k)
            if self.weights == "heat":
                w = _heat(dist.astype(np.float64) ** 2, self.bandwidth_)
            else:
                w = np.ones(dist.shape)
            w /= w.sum(axis=1, keepdims=True)
            avg = np.einsum("nk,nkb->nb", w, self.embedding_[ind])
            out[start : start + block] = avg * scale - self.thresholds_
        return out
