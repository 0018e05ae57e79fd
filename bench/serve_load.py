"""``hamsearch serve`` over HTTP vs ``Index.search`` in-process, same data, same run.

Builds an index directory of clustered codes (PDQ-sized 256-bit by default),
starts a real ``hamsearch serve`` (uvicorn) on 127.0.0.1, and times, for each
number of concurrent clients and queries per request:

* **in-process**: client threads calling ``index.search(q, k)`` on the same
  directory loaded in this process;
* **HTTP**: client threads (``httpx.Client``, keep-alive) sending
  ``POST /v1/search`` with hex codes and parsing the JSON answer.

Prints throughput (requests/s and queries/s), p50 / p99 latency per request,
and the HTTP overhead per request (p50 HTTP - p50 in-process, one client).
The client and the server share the machine: on a 2-core box the clients'
own JSON and socket work is part of the HTTP cost, as for any local caller.

    python -m bench.serve_load                       # 100k x 256-bit, 1 and 4 clients
    python -m bench.serve_load --n 1000000 --seconds 5 --clients 1,8 --batch 1,32
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run_clients(fn, queries, clients: int, seconds: float, batch: int):
    """Run ``fn(q)`` in ``clients`` threads for ``seconds``; (latencies, elapsed)."""
    lats: list = [[] for _ in range(clients)]
    deadline = time.perf_counter() + seconds
    errors: list = []

    def worker(w):
        rng = np.random.default_rng(w)
        out = lats[w]
        try:
            while time.perf_counter() < deadline:
                s = int(rng.integers(0, len(queries) - batch))
                t0 = time.perf_counter()
                fn(queries[s:s + batch])
                out.append(time.perf_counter() - t0)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(w,)) for w in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return np.concatenate([np.asarray(x) for x in lats]), elapsed


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--nbits", type=int, default=256)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--clients", default="1,4", help="comma-separated client thread counts")
    p.add_argument("--batch", default="1,16", help="comma-separated queries per request")
    p.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    clients = [int(x) for x in args.clients.split(",")]
    batches = [int(x) for x in args.batch.split(",")]

    import httpx

    import hamsearch
    from hamsearch.synthetic import clustered_codes

    from ._common import machine_line, print_table

    print(f"bench.serve_load: {args.n:,} clustered {args.nbits}-bit codes, k={args.k}; "
          f"{machine_line()}")
    db, centres = clustered_codes(args.n, args.nbits, ncenters=1000, flip=(0.05, 0.15),
                                  seed=args.seed)
    queries, _ = clustered_codes(4096, args.nbits, centres=centres, flip=(0.05, 0.15),
                                 seed=args.seed + 1)
    hexes = [bytes(r).hex() for r in queries]
    tmp = tempfile.mkdtemp(prefix="hamsearch-bench-serve-")
    directory = os.path.join(tmp, "ix")
    index = hamsearch.Index(args.nbits)
    index.add(db)
    os.makedirs(directory)
    index.save(directory)
    local = hamsearch.load(directory)
    token_file = os.path.join(tmp, "token")
    with open(token_file, "w") as f:
        f.write("bench-token")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT,
                                                                  os.environ.get("PYTHONPATH")]))}
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "hamsearch", "serve", "--index", directory,
                               "--token-file", token_file, "--port", str(port),
                               "--log-level", "warning", "--max-batch", "4096"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    headers = {"Authorization": "Bearer bench-token"}
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {server.stderr.read().decode()}")
            time.sleep(0.1)

        local_tls = threading.local()

        def http_search(q_hex):
            c = getattr(local_tls, "client", None)
            if c is None:
                c = local_tls.client = httpx.Client(base_url=url, headers=headers, timeout=30)
            r = c.post("/v1/search", json={"codes": q_hex, "k": args.k})
            if r.status_code != 200:
                raise RuntimeError(r.text)
            return r.json()["results"]

        # the answers agree (a check, not a timing)
        got = http_search(hexes[:8])
        D, I = local.search(queries[:8], args.k)
        assert [[h["id"] for h in row] for row in got] == I.tolist(), "HTTP != in-process"
        http_search(hexes[:1])
        local.search(queries[:1], args.k)  # warm-up (MIH tables, JIT)

        rows, p50 = [], {}
        qhex = np.array(hexes, dtype=object)
        for b in batches:
            for c in clients:
                for mode in ("in-process", "HTTP"):
                    if mode == "HTTP":
                        lat, el = _run_clients(lambda q: http_search(list(q)), qhex, c,
                                               args.seconds, b)
                    else:
                        lat, el = _run_clients(lambda q: local.search(q, args.k), queries, c,
                                               args.seconds, b)
                    p50[(mode, c, b)] = float(np.median(lat))
                    rows.append((mode, c, b, f"{len(lat) / el:,.0f}", f"{len(lat) * b / el:,.0f}",
                                 f"{np.median(lat) * 1e3:.3f}",
                                 f"{np.percentile(lat, 99) * 1e3:.3f}"))
        print()
        print_table(["mode", "clients", "queries/request", "requests/s", "queries/s",
                     "p50 ms", "p99 ms"], rows)
        print()
        for b in batches:
            c = clients[0]
            over = p50[("HTTP", c, b)] - p50[("in-process", c, b)]
            ratio = p50[("HTTP", c, b)] / p50[("in-process", c, b)]
            print(f"HTTP overhead per request ({c} client{'s' if c > 1 else ''}, {b} "
                  f"quer{'ies' if b > 1 else 'y'}): {over * 1e3:.3f} ms at p50 "
                  f"({ratio:.1f}x the in-process search)")
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
