"""``hamsearch serve``: the HTTP search service over a durable index directory.

Examples::

    hamsearch serve --index /srv/codes --nbits 256 --token-file /etc/hamsearch/token
    hamsearch serve --demo fashion-mnist            # builds the demo, opens the page
    hamsearch serve --index /srv/imgs --model latent.pt --public-read
    hamsearch serve --sharded /srv/shards --nbits 256 --shards 4 --token-file /srv/token

Needs the ``serve`` extra: ``pip install "hamsearch[serve]"``.  Binds
127.0.0.1 unless ``--host`` says otherwise.  Writes need the bearer token
(from ``--token-file`` or ``$HAMSEARCH_TOKEN``); so do reads unless
``--public-read`` (the demo's default).  ``--sharded ROOT`` (or an
``--index`` directory holding ``sharded.json``) serves a Ray sharded index
through the same API (``pip install "hamsearch[ray]"``); reload is refused
there.  See docs/service.md.
"""

from __future__ import annotations

import sys

from ..errors import InvalidArgumentError, MissingDependencyError, ResourceBusyError
from ..searchers import search_methods
from ._args import argument_errors, plain_text, require_positive


def register(sub):
    p = sub.add_parser("serve", help="serve an index over HTTP (JSON API + a search page)",
                       description=plain_text(__doc__.split("\n\n")[0]))
    p.add_argument("--index", default=None,
                   help="index directory (created if missing; write-ahead log on); one "
                        "holding sharded.json is served as a sharded index")
    p.add_argument("--nbits", type=int, default=None, help="code length of a new index")
    g = p.add_argument_group(
        "sharded index (Ray)",
        "serve a hamsearch.distributed.ShardedIndex: one Ray actor per shard replica, each "
        "with its own durable directory under ROOT; an --index directory holding "
        "sharded.json is served this way too.  Reload is refused (409) on a sharded index.")
    g.add_argument("--sharded", default=None, metavar="ROOT",
                   help="sharded index root (created with --nbits if missing)")
    g.add_argument("--shards", type=int, default=None, metavar="N",
                   help="shards of a new sharded index (default 2; checked against an "
                        "existing one)")
    g.add_argument("--replicas", type=int, default=None, metavar="R",
                   help="replicas per shard of a new sharded index (default 1; checked "
                        "against an existing one)")
    g.add_argument("--shard-cpus", type=float, default=None, metavar="F",
                   help="Ray CPUs reserved per shard actor (default 1)")
    g.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="Ray cluster to join ('auto', 'ray://host:10001'; default: start a "
                        "local one)")
    p.add_argument("--model", default=None,
                   help="deep model file from `hamsearch train`: enables image search (torch)")
    p.add_argument("--demo", default=None, metavar="NAME",
                   help="build a demo index of images: fashion-mnist (falls back to mnist-5k, "
                        "digits), mnist-5k or digits")
    p.add_argument("--demo-limit", type=int, default=None, help="demo: first N images only")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free)")
    p.add_argument("--token-file", default=None,
                   help="file holding the bearer token (default: $HAMSEARCH_TOKEN)")
    p.add_argument("--public-read", action="store_true", help="reads need no token")
    p.add_argument("--fsync", choices=("always", "interval", "never"), default="always",
                   help="write-ahead log durability (default always)")
    p.add_argument("--method", choices=search_methods(), default="auto",
                   help="search method of a new index")
    p.add_argument("--reload-from", default=None,
                   help="index file or directory that POST /v1/reload and SIGHUP swap in "
                        "(not with a sharded index)")
    p.add_argument("--thumbnails", default=None,
                   help=".npy of uint8 images (n, h, w[, 3]), row i = id i, for the page")
    p.add_argument("--labels", default=None, help=".npy of the thumbnails' int labels")
    p.add_argument("--max-batch", type=int, default=1000, help="codes per request (default 1000)")
    p.add_argument("--max-k", type=int, default=1000, help="largest k (default 1000)")
    p.add_argument("--max-body-bytes", type=int, default=16 << 20,
                   help="largest request body (default 16 MiB)")
    p.add_argument("--graceful-timeout", type=float, default=30.0,
                   help="seconds SIGTERM waits for requests in flight (default 30)")
    p.add_argument("--log-level", default="info")
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.set_defaults(func=run)


def _is_loopback(host: str) -> bool:
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


_SHARD_OPTIONS = ("shards", "replicas", "shard_cpus", "ray_address")


def _sharded_root(args):
    """The sharded root to serve (``--sharded``, or an ``--index`` holding
    ``sharded.json``), or None; refuses options that do not go together."""
    from ..serve.backends import is_sharded_root

    if args.sharded is not None and args.index is not None:
        raise InvalidArgumentError("give --index DIR or --sharded ROOT, not both")
    root = args.sharded if args.sharded is not None else (
        args.index if is_sharded_root(args.index) else None)
    if root is None:
        given = [f"--{name.replace('_', '-')}" for name in _SHARD_OPTIONS
                 if getattr(args, name) is not None]
        if given:
            raise InvalidArgumentError(f"{given[0]} applies to a sharded index: serve one with "
                                       "--sharded ROOT")
        return None
    if args.demo is not None:
        raise InvalidArgumentError("--demo builds a single index directory; it cannot be "
                                   "combined with a sharded index")
    if args.reload_from is not None:
        raise InvalidArgumentError("--reload-from: reload is not available on a sharded index "
                                   "(no atomic swap across its shards); restart the service "
                                   "on the new sharded root instead")
    return root


def _open_sharded(root, nbits, args, config, encoder, items):
    """An :class:`IndexService` over the sharded index at ``root`` (Ray starts here)."""
    from ..serve import IndexService

    try:
        import ray  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(f"serving a sharded index needs Ray: pip install "
                                     f"\"hamsearch[ray]\" ({exc})") from exc
    for name in ("shards", "replicas"):
        value = getattr(args, name)
        if value is not None:
            require_positive(f"--{name} must be a positive integer, got {value}", value)
    if args.shard_cpus is not None and not args.shard_cpus >= 0:
        raise InvalidArgumentError(f"--shard-cpus must be a number >= 0, got {args.shard_cpus}")
    options = {"method": args.method}
    if args.shard_cpus is not None:
        options["num_cpus"] = args.shard_cpus
    if args.ray_address is not None:
        options["address"] = args.ray_address
    with argument_errors():
        return IndexService.sharded(root, nbits, num_shards=args.shards,
                                    replicas=args.replicas, config=config, fsync=args.fsync,
                                    encoder=encoder, items=items, **options)


def run(args) -> int:
    """Start the service; returns when it stops (SIGTERM / SIGINT)."""
    import os
    import tempfile

    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(f"hamsearch serve needs the serve extra: pip install "
                                     f"-e \".[serve]\" from a source checkout ({exc})") from exc
    import numpy as np

    from ..serve import IndexService, ServeConfig
    from ..serve.auth import TOKEN_ENV, load_token
    from ..serve.server import serve

    if args.index is None and args.demo is None and args.sharded is None:
        raise InvalidArgumentError("give --index DIR or --sharded ROOT (or --demo fashion-mnist)")
    sharded_root = _sharded_root(args)
    with argument_errors():
        token = load_token(args.token_file)
    public_read = bool(args.public_read or args.demo)
    if token is None and not public_read:
        raise InvalidArgumentError(f"give the bearer token with --token-file F or ${TOKEN_ENV}, "
                                   "or --public-read for a read-only service")
    if not _is_loopback(args.host):
        print(f"hamsearch serve: warning: binding {args.host}, reachable from other machines; "
              "use TLS in front of it", file=sys.stderr)
    config = ServeConfig(token=token, public_read=public_read, max_batch=args.max_batch,
                         max_k=args.max_k, max_body_bytes=args.max_body_bytes,
                         reload_from=args.reload_from)
    encoder = items = None
    temp = None
    directory = args.index if sharded_root is None else sharded_root
    if args.demo is not None:
        from ..serve.demo import build_demo

        if directory is None:
            temp = tempfile.TemporaryDirectory(prefix="hamsearch-demo-")
            directory = temp.name
        with argument_errors():
            encoder, items = build_demo(args.demo, directory, nbits=args.nbits or 64,
                                        model_path=args.model, limit=args.demo_limit)
    elif args.model is not None:
        from ..serve.encoders import load_encoder

        encoder = load_encoder(args.model)
    if args.thumbnails is not None:
        from ..serve.images import ItemStore

        labels = np.load(args.labels) if args.labels else None
        items = ItemStore(np.load(args.thumbnails), labels)
    nbits = args.nbits
    if nbits is None and encoder is not None:
        nbits = encoder.nbits
    from ..wal import WalLockedError

    try:
        if sharded_root is not None:
            service = _open_sharded(sharded_root, nbits, args, config, encoder, items)
        else:
            with argument_errors():  # e.g. no --nbits for a new index
                service = IndexService(directory, nbits, config=config, fsync=args.fsync,
                                       encoder=encoder, items=items, method=args.method)
    except WalLockedError as exc:
        raise ResourceBusyError(f"{directory} is in use by another process (one server per "
                                f"index directory): {exc}") from None
    where = (f"a sharded index ({service.index.num_shards} shards x "
             f"{service.index.replicas} replicas, Ray) at " if service.is_sharded else "")
    print(f"hamsearch serve: {len(service.index):,} {service.nbits}-bit codes in {where}"
          f"{os.path.abspath(directory)}{' (temporary)' if temp else ''}; reads "
          f"{'public' if public_read else 'need the token'}; writes "
          f"{'need the token' if token else 'disabled (no token)'}", flush=True)
    try:
        return serve(service, args.host, args.port, log_level=args.log_level,
                     access_log=args.access_log, graceful_timeout=args.graceful_timeout)
    finally:
        if temp is not None:
            temp.cleanup()
