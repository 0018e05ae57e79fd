"""Deep hashing throughput on the CPU: ``python -m bench.bench_deep_encode``.

Measures, in one process:

1. training images/s of a deep model on synthetic 28x28 images;
2. encoding images/s of ``model.encode`` against its peer, the bare torch
   forward pass of the same network on a ready float tensor (the ratio is
   the cost of our input conversion + bit packing);
3. an end-to-end ``encode_into`` of ``--n`` synthetic 28x28 images (1M by
   default) into a :class:`hamsearch.Index`, streamed from a lazy image
   source that generates each batch on demand (nothing of size n is ever
   materialised besides the index itself): images/s and peak RSS, with the
   RSS before the run and the index's own size for reference.

Timings on a shared machine are noisy: compare the ratios, not the absolute
numbers.  torch threads default to 1 (see ``--threads``; never more than 2).

Example::

    python -m bench.bench_deep_encode --n 1000000
    python -m bench.bench_deep_encode --n 100000 --method exploss
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np


class SyntheticImages:
    """A lazy (n, 28, 28) uint8 image source: each slice is generated on demand.

    Ten smooth random "class prototypes" plus per-image noise and a random
    shift; deterministic for a given (seed, slice start).
    """

    def __init__(self, n: int, seed: int = 0, size: int = 28):
        self.shape = (int(n), size, size)
        self.dtype = np.dtype(np.uint8)
        self.seed = seed
        rng = np.random.default_rng(seed)
        base = rng.random((10, size // 4, size // 4))
        self.prototypes = np.kron(base, np.ones((4, 4)))[:, :size, :size] * 200.0

    def __len__(self):
        return self.shape[0]

    def labels(self, start: int, stop: int) -> np.ndarray:
        return (np.arange(start, stop) * 7 + 3) % 10

    def __getitem__(self, key):
        if isinstance(key, slice):
            start, stop, step = key.indices(self.shape[0])
            rows = np.arange(start, stop, step)
        else:
            rows = np.asarray(key)
        rng = np.random.default_rng([self.seed, int(rows[0]) if len(rows) else 0, len(rows)])
        lab = (rows * 7 + 3) % 10
        img = self.prototypes[lab] + rng.normal(0, 25, (len(rows),) + self.shape[1:])
        shift = rng.integers(-2, 3, size=2)
        img = np.roll(img, tuple(shift), axis=(1, 2))
        return np.clip(img, 0, 255).astype(np.uint8)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def current_rss_mb() -> float:
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # pragma: no cover
        return float("nan")


class _RSSProbe:
    """Forwards ``add`` to an index and records the largest RSS seen after each batch."""

    def __init__(self, index):
        self.index = index
        self.max_rss = current_rss_mb()
        self.batches = 0

    def add(self, codes, ids=None, features=None):
        self.index.add(codes, ids=ids, features=features)
        self.batches += 1
        self.max_rss = max(self.max_rss, current_rss_mb())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_deep_encode",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=1_000_000, help="images for the end-to-end run")
    p.add_argument("--method", default="latent", choices=("latent", "compact", "exploss"))
    p.add_argument("--bits", type=int, default=48)
    p.add_argument("--train-images", type=int, default=4096)
    p.add_argument("--batch-size", type=int, default=2048, help="encoding batch")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None,
                   help="also write the figures to this JSON file (docs/results_deep.md "
                        "quotes docs/bench_deep_encode.json when it exists)")
    p.add_argument("--features", action="store_true",
                   help="also store F7 features in the index (n x 256 float32!)")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(max(1, min(2, args.threads)))
    import hamsearch
    from hamsearch.encoders.deep import make_model

    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"hamsearch backend {hamsearch.backend()}", flush=True)
    src = SyntheticImages(args.n, seed=0)
    train = SyntheticImages(args.train_images, seed=1)
    x_train, y_train = train[:], train.labels(0, args.train_images)

    # 1. training throughput
    model = make_model(args.method, args.bits, verbose=False)
    epochs = 3 if args.method == "exploss" else 1  # exploss needs >= 3 stages' worth
    t0 = time.perf_counter()
    model.fit(x_train, y_train, epochs=epochs, batch_size=128)
    dt = time.perf_counter() - t0
    train_ips = args.train_images * epochs / dt
    print(f"train: {args.method} {args.bits} bits, {args.train_images} images x {epochs} "
          f"epochs in {dt:.1f} s: {train_ips:.0f} images/s", flush=True)

    # 2. encode vs bare forward (peer)
    m = min(20000, args.n)
    x = src[0:m]
    t0 = time.perf_counter()
    model.encode(x, batch_size=args.batch_size)
    enc_s = time.perf_counter() - t0
    xt = torch.from_numpy(x).float().div_(255.0).unsqueeze(1)
    net = model.net_.eval()
    t0 = time.perf_counter()
    with torch.no_grad():
        for s in range(0, m, args.batch_size):
            net(xt[s:s + args.batch_size])
    fwd_s = time.perf_counter() - t0
    print(f"encode: {m} images: hamsearch encode {m / enc_s:.0f} images/s, bare torch "
          f"forward (peer) {m / fwd_s:.0f} images/s, ratio encode/forward time "
          f"{enc_s / fwd_s:.2f}", flush=True)
    del x, xt

    # 3. end-to-end streaming encode into an index (one encode_into call)
    index = hamsearch.Index(nbits=args.bits)
    probe = _RSSProbe(index)
    rss0 = current_rss_mb()
    t0 = time.perf_counter()
    model.encode_into(probe, src, ids=np.arange(args.n, dtype=np.int64),
                      batch_size=args.batch_size, features=args.features)
    total = time.perf_counter() - t0
    assert len(index) == args.n
    codes_mb = args.n * (args.bits // 8 + 8) / 2**20
    print(f"end-to-end: {args.n} synthetic 28x28 images -> {args.bits}-bit index in "
          f"{total:.1f} s: {args.n / total:.0f} images/s; rss before {rss0:.0f} MB, max rss "
          f"during the run {probe.max_rss:.0f} MB (+{probe.max_rss - rss0:.0f} MB; index "
          f"codes+ids ~{codes_mb:.0f} MB; the images as float32 would be "
          f"{args.n * 784 * 4 / 2**20:.0f} MB); process peak rss {peak_rss_mb():.0f} MB",
          flush=True)
    if args.json:
        import json
        import platform

        figures = {
            "command": "python -m bench.bench_deep_encode " + " ".join(
                argv if argv is not None else sys.argv[1:]),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared)",
            "torch_threads": torch.get_num_threads(), "method": args.method, "bits": args.bits,
            "train_images_per_s": train_ips, "encode_images_per_s": m / enc_s,
            "forward_images_per_s": m / fwd_s, "n": args.n,
            "end_to_end_images_per_s": args.n / total, "rss_before_mb": rss0,
            "max_rss_during_mb": probe.max_rss, "peak_rss_mb": peak_rss_mb(),
        }
        from hamsearch._atomic import atomic_write

        with atomic_write(args.json, "w") as fh:
            json.dump(figures, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
