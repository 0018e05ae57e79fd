"""Parameter handling shared by every estimator, shallow and deep.

The scikit-learn conventions, without importing scikit-learn:

* every constructor argument is stored verbatim under its own name and is
  never rewritten by ``fit`` (validated values live in locals or in fitted
  attributes), so :func:`sklearn.base.clone` reproduces an estimator from
  :meth:`ParamsMixin.get_params`;
* everything learned by ``fit`` lives in attributes with a trailing
  underscore; the one named by ``_fitted_attr`` marks a fitted estimator;
* every method that needs a fitted model raises :class:`NotFittedError`
  before it.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

__all__ = ["NotFittedError", "ParamsMixin", "check_positive_int"]


class NotFittedError(ValueError, AttributeError):
    """Raised when a method that needs a fitted model runs before ``fit``.

    Subclasses both :class:`ValueError` and :class:`AttributeError`, like
    scikit-learn's exception of the same name.
    """


def check_positive_int(value: Any, name: str) -> int:
    """``value`` as an ``int`` >= 1 (bools and floats refused).

    Raises
    ------
    ValueError
        ``value`` is not a positive integer.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


class ParamsMixin:
    """``get_params`` / ``set_params`` / ``repr`` / fitted-state checks.

    The parameters are the arguments of the class's ``__init__`` (which must
    not take ``*args`` / ``**kwargs``).
    """

    #: Name of the attribute whose value (not None) marks a fitted estimator.
    _fitted_attr = "n_features_in_"
    #: What the :class:`NotFittedError` message tells the caller to do.
    _fit_hint = "call fit() first"

    @classmethod
    def _get_param_names(cls) -> list:
        names = []
        for p in inspect.signature(cls.__init__).parameters.values():
            if p.name == "self":
                continue
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise RuntimeError(f"{cls.__name__}.__init__ must not take *args/**kwargs")
            names.append(p.name)
        return sorted(names)

    def get_params(self, deep: bool = True) -> dict:
        """Constructor parameters of this estimator, as a dict (scikit-learn API).

        Parameters
        ----------
        deep : bool, default True
            Also list the parameters of parameters that are estimators
            themselves, as ``"<name>__<param>"``.

        Returns
        -------
        dict
        """
        out = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                for key, sub in value.get_params(deep=True).items():
                    out[f"{name}__{key}"] = sub
            out[name] = value
        return out

    def set_params(self, **params: Any):
        """Set constructor parameters (scikit-learn API); returns ``self``.

        Raises
        ------
        ValueError
            A name that is not a constructor parameter.
        """
        valid = set(self._get_param_names())
        for key, value in params.items():
            head, _, rest = key.partition("__")
            if head not in valid:
                raise ValueError(
                    f"invalid parameter {head!r} for {type(self).__name__}; "
                    f"valid parameters: {sorted(valid)}"
                )
            if rest:
                getattr(self, head).set_params(**{rest: value})
            else:
                setattr(self, head, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            p.name: p.default
            for p in inspect.signature(type(self).__init__).parameters.values()
            if p.name != "self"
        }
        parts = []
        for name in self._get_param_names():
            value = getattr(self, name, None)
            default = defaults.get(name, inspect.Parameter.empty)
            try:
                same = value is default or (
                    not isinstance(value, np.ndarray) and bool(value == default)
                )
            except Exception:  # noqa: BLE001 - odd objects: just show them
                same = False
            if not same:
                parts.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __sklearn_is_fitted__(self) -> bool:
        return getattr(self, self._fitted_attr, None) is not None

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; {self._fit_hint}"
            )
