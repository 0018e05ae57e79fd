"""The evaluation protocol of the hashing papers, as a library.

``hamsearch eval`` and ``bench/shallow_table.py`` run it:
:func:`prepare_data` (query / database split, the database shuffled once,
seeded: see :mod:`hamsearch.evaluation.protocol` on ties), :func:`evaluate_method`
(train one registered method at one code length and score it),
:func:`evaluate_model` (a saved deep model), :func:`run_eval` (methods x code
lengths), :func:`format_table` and :func:`plot_curves` (needs matplotlib).

Examples
--------
>>> from hamsearch.evaluation import prepare_data, evaluate_method
>>> data = prepare_data("synthetic", limit=400, per_class=10)
>>> r = evaluate_method(data, "itq", 16)
>>> r["method"], r["nbits"], 0.0 <= r["map"] <= 1.0
('itq', 16, True)
"""

from .plots import plot_curves
from .protocol import (KS, evaluate_method, evaluate_model, load_dataset, method_inputs,
                       prepare_data, run_eval, score, shuffle_database, training_indices)
from .report import HEADER, format_row, format_table, write_json

__all__ = ["KS", "load_dataset", "prepare_data", "shuffle_database", "method_inputs", "score", "evaluate_method",
           "evaluate_model", "run_eval", "training_indices", "HEADER", "format_row", "format_table", "write_json",
           "plot_curves"]
