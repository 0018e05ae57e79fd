"""Reading a trained model back for fine-tuning (``hamsearch train --init``)."""

from __future__ import annotations

from typing import Any, Optional

from ...errors import InvalidArgumentError
from ..registry import get_method

__all__ = ["load_for_fine_tuning"]


def load_for_fine_tuning(path: str, method: str, *, nbits: Optional[int] = None,
                         backbone: Optional[str] = None, feature_dim: Optional[int] = None,
                         verbose: bool = True) -> Any:
    """Load the model at ``path`` and check it is a ``method`` model to fine-tune.

    Parameters
    ----------
    path : str
        A file written by ``save``.
    method : str
        A deep method of :mod:`hamsearch.encoders.registry`.
    nbits, backbone, feature_dim : optional
        When given, the model's must be equal.
    verbose : bool
        Set on the model.

    Returns
    -------
    DeepHashModel
        Ready for ``fit(..., warm_start=True)``.

    Raises
    ------
    InvalidArgumentError
        The file holds another class (LDH / ITQ-CNN cannot be fine-tuned:
        their CNN can) or an architecture option differs.
    """
    from .base import DeepHashModel
    from .serialize import load_model

    model = load_model(path)
    spec = get_method(method, kind="deep")
    want = spec.target.partition(":")[2]
    if type(model).__name__ != want or not isinstance(model, DeepHashModel):
        raise InvalidArgumentError(
            f"--init {path} holds a {type(model).__name__}; --method {method} fine-tunes a {want}"
            + (" (LDH / ITQ-CNN cannot be fine-tuned: fine-tune their CNN)"
               if spec.cnn_features else ""))
    for opt, value, have in (("--bits", nbits, model.nbits),
                             ("--backbone", backbone, model.backbone),
                             ("--feature-dim", feature_dim, model.feature_dim)):
        if value is not None and value != have:
            raise InvalidArgumentError(f"{opt} {value} differs from the --init model's ({have})")
    model.verbose = verbose
    return model
