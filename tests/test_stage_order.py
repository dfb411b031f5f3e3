"""The folders are the pipeline's stages: a module imports only from its own stage and earlier ones.

The order is the one ARCHITECTURE.md and ``detector/__init__.py`` write down; this test reads
every ``import`` of the package (top-level and inside functions) and checks it against it.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "detector"

#: Stage rank by the first name under ``detector.``; a module may import ranks <= its own.
RANK = {
    "atomic_files": 0, "config": 0,
    "data": 1, "synth": 1,  # detector/synth.py is the ``python -m detector.synth`` shim of data/synth
    "model": 2,
    "evaluation": 3,
    "engine": 4,
    "reconstruct": 5,
    "benchmarks": 6, "bench": 6, "bench_metrics": 6, "ablation": 6,
}
#: Documented exceptions: config checks class names with data/classes.py, a leaf module.
ALLOWED = {("config", "detector.data.classes")}


def _stage(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def _ranks() -> dict[str, int]:
    """``RANK`` plus every top-level helper file that imports nothing of the package (rank 0)."""
    ranks = dict(RANK)
    for path in PACKAGE.glob("*.py"):
        if path.stem not in ranks and path.stem != "__init__":
            imports_package = any(m.startswith("detector.") for m in _imports(path))
            assert not imports_package, f"{path}: a new top-level module; rank it here and in ARCHITECTURE.md"
            ranks[path.stem] = 0
    return ranks


def test_every_module_imports_only_its_own_stage_and_earlier_ones():
    ranks = _ranks()
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        stage = _stage(path)
        if stage == "__init__":
            continue
        assert stage in ranks, f"{path}: a new stage folder; give it a rank here and in ARCHITECTURE.md"
        for module in _imports(path):
            parts = module.split(".")
            if parts[0] != "detector" or len(parts) < 2 or (stage, module) in ALLOWED:
                continue
            if ranks[parts[1]] > ranks[stage]:
                wrong.append(f"{path.relative_to(PACKAGE.parent)} ({stage}) imports {module}")
    assert not wrong, "\n".join(wrong)


def test_the_written_order_is_the_checked_order():
    written = (PACKAGE / "__init__.py").read_text()
    assert "data -> model -> evaluation -> engine" in written
    architecture = (PACKAGE.parent / "ARCHITECTURE.md").read_text()
    assert "data -> model -> evaluation -> engine" in architecture
    stages = ("data", "model", "evaluation", "engine", "reconstruct", "benchmarks")
    assert [RANK[s] for s in stages] == sorted(RANK[s] for s in stages)
