"""A dependency-free progress bar for long command-line steps."""

from __future__ import annotations

import sys
import time


class Progress:
    """Print a one-line progress bar on stderr, redrawn at most 10 times a second.

    Parameters
    ----------
    label : str
        What is being done.
    total : int
        Number of units of work.
    enabled : bool, optional
        Defaults to whether stderr is a terminal; when false only the final
        line is printed.
    """

    def __init__(self, label: str, total: int, enabled: bool | None = None, stream=None):
        self.label = label
        self.total = max(int(total), 1)
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.start = time.perf_counter()
        self._last = 0.0

    def __call__(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self.total = max(int(total), 1)
        now = time.perf_counter()
        if not self.enabled or (now - self._last < 0.1 and done < self.total):
            return
        self._last = now
        frac = min(done / self.total, 1.0)
        width = 30
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        elapsed = now - self.start
        eta = elapsed / frac - elapsed if frac > 0 else 0.0
        self.stream.write(
            f"\r{self.label:<28} [{bar}] {frac * 100:5.1f}%  {elapsed:5.1f}s (eta {eta:4.1f}s)"
        )
        self.stream.flush()

    def close(self) -> None:
        elapsed = time.perf_counter() - self.start
        if self.enabled:
            self.stream.write("\n")
        self.stream.write(f"{self.label:<28} done in {elapsed:.2f}s\n")
        self.stream.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
