"""A sharded index's root directory: ``sharded.json`` and one directory per replica.

``root/sharded.json`` (replaced atomically) describes the index: ``format``
(:data:`FORMAT`), ``nbits``, ``num_shards``, ``replicas``, ``method``,
``routing`` (:data:`~hamsearch.distributed.routing.ROUTING`) and
``features_dtype``.  Each shard replica keeps its durable index (segments
and write-ahead log) in ``root/shard-NNN/replica-R/`` (:func:`replica_dir`).
Nothing here imports Ray or the index.
"""

from __future__ import annotations

import json
import os

from .._atomic import atomic_write

__all__ = ["CONFIG_FILE", "FORMAT", "prepare_root", "read_config", "replica_dir"]

#: The sharded index's description, in its root directory.
CONFIG_FILE = "sharded.json"
#: Its format name and version.
FORMAT = "hamsearch-sharded/1"


def replica_dir(root: str, shard: int, replica: int) -> str:
    """The index directory of replica ``replica`` of shard ``shard``."""
    return os.path.join(root, f"shard-{shard:03d}", f"replica-{replica}")


def prepare_root(root: str, config: dict) -> dict:
    """The configuration of the sharded index under ``root``.

    When ``root`` holds a :data:`CONFIG_FILE`, the stored configuration
    (its format, ``nbits``, shard and replica counts and routing must be
    those of ``config``); else ``config``, written there (``root`` must be
    missing or empty).
    """
    path = os.path.join(root, CONFIG_FILE)
    if os.path.exists(path):
        with open(path) as f:
            stored = json.load(f)
        for key in ("format", "nbits", "num_shards", "replicas", "routing"):
            if stored.get(key) != config[key]:
                raise ValueError(
                    f"{root} holds a sharded index with {key}={stored.get(key)!r}, "
                    f"not {config[key]!r} (open it with hamsearch.distributed.load)")
        return stored
    if os.path.isdir(root) and os.listdir(root):
        raise ValueError(f"{root} is not empty and holds no sharded index "
                         f"(no {CONFIG_FILE}): refusing to write there")
    os.makedirs(root, exist_ok=True)
    with atomic_write(path, "w", what="sharded index configuration") as f:
        json.dump(config, f, indent=1)
    return config


def read_config(root) -> dict:
    """The configuration stored under ``root`` (what
    :func:`hamsearch.distributed.load` opens)."""
    path = os.path.join(os.fspath(root), CONFIG_FILE)
    try:
        with open(path) as f:
            config = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{os.fspath(root)} holds no sharded index (no {CONFIG_FILE})")
    except ValueError as exc:
        raise ValueError(f"{path} is not a valid sharded index description: {exc}") from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError(f"{path}: format {config.get('format') if isinstance(config, dict) else None!r}"
                         f" is not {FORMAT!r}")
    return config
