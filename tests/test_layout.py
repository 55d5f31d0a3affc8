"""The house's rules, checked on the source: which room may import which (the flow goes one way), and no
metric-name string branches outside the metrics themselves."""
import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bnbench"

# room -> rooms it must never import (at any depth, lazily or not)
FORBIDDEN = {
    "engine": ("bnbench.study", "bnbench.verdicts", "bnbench.store", "bnbench.outputs", "bnbench.runner",
               "bnbench.plugin", "bnbench.cli"),
    "study": ("bnbench.store", "bnbench.outputs", "bnbench.runner", "bnbench.plugin", "bnbench.cli", "torch"),
    # no circle: the study declares with the verdicts' metrics; verdicts read a claim's data, never import the study
    "verdicts": ("bnbench.study", "bnbench.store", "bnbench.outputs", "bnbench.runner", "bnbench.plugin",
                 "bnbench.cli", "torch"),
    "store": ("bnbench.outputs", "bnbench.runner", "bnbench.plugin", "bnbench.cli"),
    "outputs": ("bnbench.runner", "bnbench.plugin", "bnbench.cli"),
}
# the session's own rooms (the run cache, the workers' shards) sit beside the runner: nothing below imports them
FORBIDDEN = {room: names + ("bnbench.run_cache", "bnbench.shards") for room, names in FORBIDDEN.items()}


def _type_checking_only(tree) -> set[int]:
    """The ids of the nodes under ``if TYPE_CHECKING:``: imports for annotations only, never run."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for child in node.body for n in ast.walk(child)}   # not its else: branch
    return skip


def _imports(path: Path) -> set[str]:
    found = set()
    tree = ast.parse(path.read_text())
    skip = _type_checking_only(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_a_room_imports_nothing_downstream(room):
    bad = []
    for path in sorted((PACKAGE / room).rglob("*.py")):
        for name in _imports(path):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[room]):
                bad.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not bad, bad


def test_the_rule_catches_a_violation(tmp_path):
    """The check above would see a lazy import inside a function (the mutation it exists for)."""
    p = tmp_path / "x.py"
    p.write_text("def f():\n    from bnbench.store import Store\n")
    assert "bnbench.store" in _imports(p)
    # an import for annotations only is not a dependency; one beside it, or after the block, still is
    p.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bnbench.study.claims import Claim\n"
                 "else:\n    import bnbench.outputs\nimport bnbench.study.sections\n")
    assert _imports(p) == {"typing", "bnbench.outputs", "bnbench.study.sections"}


def test_no_metric_name_branches_outside_the_metrics():
    from bnbench.study import catalog  # noqa: F401  (the study's own metrics, declared with it)
    from bnbench.verdicts.metrics import METRICS

    names = "|".join(map(re.escape, METRICS))
    pattern = re.compile(rf"""(==|!=|\bin\b)\s*\(?\s*["']({names})["']|["']({names})["']\s*(==|!=)""")
    hits = [f"{p.relative_to(PACKAGE)}:{i}" for p in PACKAGE.rglob("*.py") if p.name != "metrics.py"
            for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert not hits, hits
