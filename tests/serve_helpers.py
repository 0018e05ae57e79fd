"""Shared helpers of the ``hamsearch serve`` tests (clients, codes, state)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT,
                                                              os.environ.get("PYTHONPATH")]))}
TOKEN = "t0ken-for-tests-only"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def random_codes(seed: int, n: int, nbytes: int = 8) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, nbytes), dtype=np.uint8)


def to_hex(codes: np.ndarray) -> list:
    return [bytes(row).hex() for row in codes]


def index_state(index) -> tuple:
    """Everything a write could change: log position, ids and their codes, features."""
    ids = np.sort(np.asarray(index.ids))
    codes = index.reconstruct(ids).tobytes() if ids.size else b""
    feats = b""
    if index.features_dim is not None and ids.size:
        feats = index.reconstruct_features(ids).tobytes()
    return index.stats()["wal_seq"], ids.tobytes(), codes, feats


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distances between one packed uint8 code ``a`` and rows ``b``."""
    return np.unpackbits(np.bitwise_xor(b, a[None, :]), axis=1).sum(axis=1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``python -m hamsearch serve ...`` on 127.0.0.1 in a subprocess, bounded in time."""

    def __init__(self, args: list, token_file: str, env=None, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "hamsearch", "serve", "--host", "127.0.0.1",
               "--port", str(self.port), "--token-file", token_file, "--log-level", "warning",
               *args]
        self.log_path = os.path.join(os.path.dirname(token_file), f"server-{self.port}.log")
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, env=env or ENV, stdout=self._log, stderr=self._log,
                                     cwd=ROOT)

    def wait_ready(self, timeout: float = 60.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"server not ready after {timeout} s:\n{self.log()}")

    def log(self) -> str:
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")[-4000:]

    def kill9(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def stop(self, sig=None, timeout: float = 30.0) -> int:
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(sig or signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise
        self._log.close()
        return self.proc.returncode
