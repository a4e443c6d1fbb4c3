"""The package's import structure: no cycles inside dirnet, the app uses dirnet's public names only,
and the library never pulls in Qt."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import dirnet

ROOT = Path(__file__).resolve().parents[1]


def _modules(package: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted name -> (file, is a package's __init__) for every module under `package`."""
    found = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _imported(name: str, path: Path, is_package: bool) -> set[str]:
    """Every module `name` imports anywhere in its file: at the top, inside functions and under
    TYPE_CHECKING alike (each is a dependency a reader has to follow), with `from X import Y`
    counted as X and as X.Y (Y may be a submodule)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            out.add(target)
            out.update(f"{target}.{alias.name}" for alias in node.names)
    return out


def import_graph(package: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, including the parent packages Python initialises
    on the way (importing a.b.c runs a/b/__init__.py first) unless the importer lives inside them."""
    modules = _modules(package)
    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in modules.items():
        edges = set()
        for target in _imported(name, path, is_package):
            if target not in modules or target == name:
                continue
            edges.add(target)
            parts = target.split(".")
            for i in range(2, len(parts)):
                parent = ".".join(parts[:i])
                if not name.startswith(parent + "."):
                    edges.add(parent)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from . import b\n")
    (package / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .sub import b\n")
    (package / "sub" / "b.py").write_text("def f():\n    from ..c import g\n")
    (package / "c.py").write_text("import pkg.a\n")
    assert cycles(import_graph(package)) == [["pkg.a", "pkg.c", "pkg.sub", "pkg.sub.b"]]
    (package / "c.py").write_text("import os\n")
    assert cycles(import_graph(package)) == []


def test_dirnet_has_no_import_cycles():
    assert cycles(import_graph(ROOT / "dirnet")) == []


def test_the_app_imports_only_dirnets_public_names():
    public = set(dirnet.__all__)
    for path in sorted((ROOT / "app").rglob("*.py")) + [ROOT / "main.py"]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("dirnet") for a in node.names), f"{path}: import dirnet..."
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dirnet"):
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                assert node.module == "dirnet", f"{where}: from {node.module} import ... (use `from dirnet import`)"
                assert {a.name for a in node.names} <= public, f"{where}: not public in dirnet"


def test_every_public_name_resolves():
    for name in dirnet.__all__:
        assert getattr(dirnet, name) is not None, name


def test_library_never_imports_qt():
    # A fresh interpreter: importing and using the library must not pull in Qt or pyqtgraph.
    code = ("import sys, dirnet; [getattr(dirnet, n) for n in dirnet.__all__]; "
            "import dirnet.bench, dirnet.data.synth.__main__, dirnet.data.teacher, dirnet.training.__main__, "
            "dirnet.training.gate, dirnet.evaluation.__main__, dirnet.evaluation.benchmark, "
            "dirnet.finetune.__main__; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PyQt6', 'pyqtgraph')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
