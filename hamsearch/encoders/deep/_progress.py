"""A progress bar: tqdm when it is installed, a plain line printer otherwise."""

from __future__ import annotations

import sys
import time


class Progress:
    """Progress over ``total`` items with a loss/accuracy postfix.

    Parameters
    ----------
    total : int
    desc : str
    verbose : bool
        False prints nothing.
    """

    def __init__(self, total: int, desc: str, verbose: bool = True):
        self.total = int(total)
        self.desc = desc
        self.verbose = bool(verbose)
        self.done = 0
        self._bar = None
        self._t0 = time.perf_counter()
        self._next_print = 0.1
        if not self.verbose:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            tqdm = None
        if tqdm is not None:
            self._bar = tqdm(total=self.total, desc=desc, leave=True, file=sys.stderr,
                             dynamic_ncols=True, mininterval=0.5)

    def update(self, n: int, **postfix) -> None:
        self.done += n
        if not self.verbose:
            return
        text = _fmt(postfix)
        if self._bar is not None:
            self._bar.update(n)
            if text:
                self._bar.set_postfix_str(text, refresh=False)
            return
        frac = self.done / max(1, self.total)
        if frac >= self._next_print or self.done >= self.total:
            self._next_print = frac + 0.1
            rate = self.done / max(1e-9, time.perf_counter() - self._t0)
            print(f"{self.desc}: {self.done}/{self.total} ({rate:.0f}/s) {text}",
                  file=sys.stderr, flush=True)

    def close(self, **postfix) -> None:
        if not self.verbose:
            return
        text = _fmt(postfix)
        if self._bar is not None:
            if text:
                self._bar.set_postfix_str(text, refresh=True)
            self._bar.close()
        elif text:
            print(f"{self.desc}: done {text}", file=sys.stderr, flush=True)


def _fmt(postfix: dict) -> str:
    parts = []
    for k, v in postfix.items():
        if v is None:
            continue
        parts.append(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}")
    return " ".join(parts)
