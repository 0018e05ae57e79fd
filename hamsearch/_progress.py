"""Progress reporting: library code takes a callback, the CLI and bench render it.

Library functions that run long (:func:`hamsearch.synthetic.clustered_codes`,
for one) take ``progress``, a :data:`ProgressCallback` called as
``progress(done, total)``; they never draw anything themselves.  The CLI and
the benchmarks pass a :class:`ProgressBar`, which draws with ``tqdm`` when it
is installed and prints a plain line every tenth of the work otherwise (tqdm is
not a dependency of hamsearch, and nothing here imports it before a bar is
made).
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, Optional, TextIO

__all__ = ["ProgressCallback", "ProgressBar"]

#: ``progress(done, total)``: ``done`` of ``total`` units of work are finished.
ProgressCallback = Callable[[int, int], None]


class ProgressBar:
    """A progress bar on stderr: tqdm when installed, a plain line printer otherwise.

    Use it as a :data:`ProgressCallback` (``bar(done, total)``, absolute) or
    advance it (``bar.update(n, loss=...)``, relative, with a postfix), then
    :meth:`close` it (or use it as a context manager).

    Parameters
    ----------
    desc : str
        What is being done.
    total : int
        Number of units of work.
    enabled : bool or None, default True
        False draws nothing; None draws only when ``stream`` is a terminal.
    stream : file, optional
        Where to draw (default ``sys.stderr``).

    Examples
    --------
    >>> from hamsearch.synthetic import clustered_codes
    >>> with ProgressBar("codes", 1000, enabled=False) as bar:
    ...     codes, centres = clustered_codes(1000, 64, progress=bar)
    >>> bar.done
    1000
    """

    def __init__(self, desc: str, total: int, enabled: Optional[bool] = True,
                 stream: Optional[TextIO] = None) -> None:
        self.desc = desc
        self.total = max(int(total), 0)
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty()) if isatty is not None else False
        self.enabled = bool(enabled)
        self.done = 0
        self._t0 = time.perf_counter()
        self._next_print = 0.1
        self._bar: Any = None
        if self.enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                pass
            else:
                self._bar = tqdm(total=self.total, desc=desc, leave=True, file=self.stream,
                                 dynamic_ncols=True, mininterval=0.5)

    def __call__(self, done: int, total: Optional[int] = None) -> None:
        """Record that ``done`` units (of ``total``, when given) are finished."""
        if total is not None and int(total) != self.total:
            self.total = int(total)
            if self._bar is not None:
                self._bar.total = self.total
        self.update(int(done) - self.done)

    def update(self, n: int, **postfix: Any) -> None:
        """Advance by ``n`` units; ``postfix`` (e.g. ``loss=0.3``) is shown after the bar."""
        self.done += int(n)
        if not self.enabled:
            return
        text = _format_postfix(postfix)
        if self._bar is not None:
            self._bar.update(n)
            if text:
                self._bar.set_postfix_str(text, refresh=False)
            return
        frac = self.done / max(1, self.total)
        if frac >= self._next_print or self.done >= self.total:
            self._next_print = frac + 0.1
            rate = self.done / max(1e-9, time.perf_counter() - self._t0)
            print(f"{self.desc}: {self.done}/{self.total} ({rate:.0f}/s) {text}".rstrip(),
                  file=self.stream, flush=True)

    def close(self, **postfix: Any) -> None:
        """Finish the bar, showing ``postfix`` (final loss, accuracy...)."""
        if not self.enabled:
            return
        text = _format_postfix(postfix)
        if self._bar is not None:
            if text:
                self._bar.set_postfix_str(text, refresh=True)
            self._bar.close()
            self._bar = None
        else:
            elapsed = time.perf_counter() - self._t0
            print(f"{self.desc}: done in {elapsed:.2f}s {text}".rstrip(), file=self.stream,
                  flush=True)
        self.enabled = False

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _format_postfix(postfix: dict) -> str:
    parts = []
    for key, value in postfix.items():
        if value is None:
            continue
        parts.append(f"{key}={value:.4f}" if isinstance(value, float) else f"{key}={value}")
    return " ".join(parts)
