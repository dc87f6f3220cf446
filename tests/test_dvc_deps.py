"""Every stage lists, as a DVC dependency, each project file its code imports (transitively).

A stage whose code changed must not be called up to date: ``dvc repro`` only knows the files in
``deps``. The imports are read statically (every ``import`` in a module, also inside functions and
``TYPE_CHECKING`` blocks), from the stage's module through ``batteryops``, ``stages`` and
``flows``. A folder in ``deps`` covers the files under it. Package ``__init__`` files that hold
only a docstring are not required.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

PACKAGES = ("batteryops", "stages", "flows")
STAGE_MODULE = re.compile(r"python -m (stages\.\w+)")


def _module_file(module: str) -> Path | None:
    """The source file of a project module, or None when the name is not a project module."""
    if module.split(".")[0] not in PACKAGES:
        return None
    base = ROOT.joinpath(*module.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _imported_modules(path: Path) -> set[str]:
    """The absolute module names a file imports (``from a import b`` yields ``a.b`` and ``a``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _parents(module: str) -> list[str]:
    """The packages a module's import also runs: ``a.b.c`` -> ``a``, ``a.b``."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _only_docstring(path: Path) -> bool:
    body = ast.parse(path.read_text()).body
    return all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body)


def project_imports(module: str) -> set[Path]:
    """The project files (relative to the root) that running ``module`` imports, transitively."""
    seen: set[Path] = set()
    pending = [module, *_parents(module)]
    while pending:
        path = _module_file(pending.pop())
        if path is None or path in seen:
            continue
        seen.add(path)
        for name in _imported_modules(path):
            pending.extend([name, *_parents(name)])
    return {
        p.relative_to(ROOT) for p in seen if not (p.name == "__init__.py" and _only_docstring(p))
    }


def _stages() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def _covered(path: Path, deps: list[str]) -> bool:
    return any(path == Path(dep) or Path(dep) in path.parents for dep in deps)


@pytest.mark.parametrize("stage", sorted(_stages()))
def test_stage_lists_every_project_file_it_imports(stage: str) -> None:
    definition = _stages()[stage]
    match = STAGE_MODULE.search(definition["cmd"])
    assert match, f"dvc.yaml stage {stage}: cmd {definition['cmd']!r} is not `python -m stages.X`"
    deps = [d for d in definition.get("deps", []) if isinstance(d, str)]
    missing = sorted(str(p) for p in project_imports(match.group(1)) if not _covered(p, deps))
    assert not missing, (
        f"dvc.yaml stage {stage} imports files it does not list in deps; add:\n"
        + "\n".join(f"      - {p}" for p in missing)
    )


def test_the_walk_follows_imports_through_the_library() -> None:
    files = project_imports("stages.evaluate")
    assert Path("stages/evaluate.py") in files
    # evaluate -> hazard.evaluation -> hazard.events -> hazard.feature_kernels (the alarm kernel)
    assert Path("batteryops/hazard/feature_kernels.py") in files
    assert Path("batteryops/core/config.py") in files
    assert not any(p.name == "__init__.py" for p in files)


def test_a_missing_dependency_is_named() -> None:
    deps = ["stages/evaluate.py", "batteryops/hazard"]
    assert _covered(Path("batteryops/hazard/events.py"), deps)
    assert not _covered(Path("batteryops/core/timegrid.py"), deps)
