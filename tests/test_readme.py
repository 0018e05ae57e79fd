"""Every ```python block of README.md runs, in order, in one namespace.

The blocks read like one session: names a block defines are the inputs of the
ones below it.  HTML comments right before a block (invisible on GitHub)
steer the test:

* ``<!-- skip-test: REASON -->``: not run (a cluster, a server, paths
  outside the test's directory); the reason is the skip message.
* ``<!-- test-requires: MOD [MOD ...] -->``: skipped unless the modules import
  (optional extras), e.g. ``torch``.
* ``<!-- test-setup: CODE -->``: Python run before the block (smaller inputs).
* ``<!-- test-replace: OLD => NEW | ... -->``: text replaced in the block before
  it runs (fewer epochs); the README shows the real settings.

A block that loads a dataset that is not installed (``FileNotFoundError`` or
``ImportError`` from :func:`hamsearch.datasets.load`) is skipped, and so are
the blocks after it that miss its names (``NameError``).
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass, field

import pytest

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")
_BLOCK = re.compile(r"((?:^<!--[^\n]*-->\n)*)^```python\n(.*?)^```", re.S | re.M)
_DIRECTIVE = re.compile(r"<!--\s*([\w-]+):\s*(.*?)\s*-->")


@dataclass
class Block:
    """One ```python block of the README and the directives before it."""

    line: int
    code: str
    directives: dict = field(default_factory=dict)

    def source(self) -> str:
        """The code to run: replacements applied, the setup first."""
        code = self.code
        for pair in filter(None, (p.strip() for p in self.directives.get("test-replace", "")
                                  .split("|"))):
            old, new = (x.strip() for x in pair.split("=>"))
            assert old in code, f"README line {self.line}: test-replace {old!r} not in the block"
            code = code.replace(old, new)
        return self.directives.get("test-setup", "") + "\n" + code


def readme_blocks(text: str) -> list:
    """The python blocks of ``text`` with their directives, in order."""
    blocks = []
    for m in _BLOCK.finditer(text):
        directives = dict(_DIRECTIVE.findall(m.group(1)))
        blocks.append(Block(text.count("\n", 0, m.start(2)) + 1, m.group(2), directives))
    return blocks


def _missing(directives: dict) -> list:
    mods = directives.get("test-requires", "").split()
    return [m for m in mods if importlib.util.find_spec(m) is None]


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """The namespace the blocks share, and the directory they write into."""
    path = tmp_path_factory.mktemp("readme")
    old = os.getcwd()
    os.chdir(path)
    try:
        yield {"namespace": {"__name__": "__readme__"}, "no_data": ""}
    finally:
        os.chdir(old)


BLOCKS = readme_blocks(open(README, encoding="utf-8").read())


def test_readme_has_python_blocks():
    assert len(BLOCKS) >= 8
    assert all("skip-test" not in b.directives or b.directives["skip-test"] for b in BLOCKS)


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: f"line{b.line}")
def test_readme_block_runs(block, session):
    if "skip-test" in block.directives:
        pytest.skip(f"README line {block.line}: {block.directives['skip-test']}")
    missing = _missing(block.directives)
    if missing:
        pytest.skip(f"README line {block.line} needs {', '.join(missing)} (not installed)")
    ns = session["namespace"]
    try:
        exec(compile(block.source(), f"README.md:{block.line}", "exec"), ns)
    except (FileNotFoundError, ImportError) as exc:
        if "datasets.load" not in block.code:
            raise
        session["no_data"] = f"README line {block.line}: dataset not installed ({exc})"
        pytest.skip(session["no_data"])
    except NameError as exc:  # a name the skipped dataset block would have defined
        if not session["no_data"]:
            raise
        pytest.skip(f"README line {block.line} ({exc}) follows {session['no_data']}")
