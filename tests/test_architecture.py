"""The layers of DESIGN.md, checked on the source: no import points up the layers, no package
has an import cycle inside it, and every module imports on its own.

Every import statement counts, wherever it stands: at the top, inside a function, or under
`if TYPE_CHECKING:`. A function-level import is still a dependency (it runs on the first call),
and hiding one there is how a cycle used to pass unnoticed (tools.base <-> tools.audit). A
TYPE_CHECKING import is a dependency of the module's meaning: its signatures name the other
module's types and mypy follows it. If two modules need each other's types, the shared types
belong in a module below both; the checks below say so rather than let the quote marks hide it.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Bottom to top (DESIGN.md, "Layers"): a module may import from its own layer and the ones below.
LAYERS = ("retail", "ml_core", "rag", "approvals", "tools", "agents", "evals", "api")
# Modules that a tool executes in a context of its own, so importing them bare must fail.
RUN_BY_A_TOOL = {"retail.migrations.env": "Alembic runs it with its migration context set up"}


@dataclass(frozen=True, slots=True)
class Import:
    source: str
    target: str
    line: int

    def __str__(self) -> str:
        return f"{self.source} (line {self.line}) imports {self.target}"


def project_modules(root: Path, packages: tuple[str, ...] = LAYERS) -> dict[str, Path]:
    """Every module of the project's packages, by dotted name (a package by its own name).

    Only files inside regular packages count: a script kept beside its data in a folder with no
    `__init__.py` (evals/devsets/orders/build.py) is run by path, not imported."""
    modules: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            folders = path.relative_to(root).parents
            if any(not (root / folder / "__init__.py").exists() for folder in list(folders)[:-1]):
                continue
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _resolve(name: str, modules: Mapping[str, Path]) -> str | None:
    """The project module that `name` (a module, or a name inside one) lives in."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def imports_of(module: str, modules: Mapping[str, Path]) -> Iterator[Import]:
    """The project modules that `module` imports, anywhere in its source."""
    path = modules[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            # `from a import b` imports module a.b when there is one, else a name from a.
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            target = _resolve(name, modules)
            if target is not None and target != module:
                yield Import(module, target, node.lineno)


def upward_imports(modules: Mapping[str, Path]) -> list[Import]:
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    return [
        edge
        for module in modules
        for edge in imports_of(module, modules)
        if rank[edge.target.split(".")[0]] > rank[module.split(".")[0]]
    ]


def cycles_inside_packages(modules: Mapping[str, Path]) -> list[list[Import]]:
    """Each set of modules of one top-level package that import each other in a ring, as the
    imports that close it (Tarjan's strongly connected components)."""
    graph: dict[str, list[Import]] = {
        m: [e for e in imports_of(m, modules) if e.target.split(".")[0] == m.split(".")[0]]
        for m in modules
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for edge in graph[node]:
            if edge.target not in index:
                visit(edge.target)
                low[node] = min(low[node], low[edge.target])
            elif edge.target in on_stack:
                low[node] = min(low[node], index[edge.target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in graph:
        if node not in index:
            visit(node)
    return [sorted((e for m in c for e in graph[m] if e.target in c), key=str) for c in components]


def test_no_import_points_up_the_layers() -> None:
    upward = upward_imports(project_modules(ROOT))
    assert not upward, "imports that point up the layers of DESIGN.md:\n" + "\n".join(
        map(str, upward)
    )


def test_no_package_has_an_import_cycle_inside_it() -> None:
    cycles = cycles_inside_packages(project_modules(ROOT))
    assert not cycles, "import cycles:\n" + "\n\n".join(
        "\n".join(map(str, cycle)) for cycle in cycles
    )


def test_the_checks_see_every_kind_of_import(tmp_path: Path) -> None:
    """A planted cycle (closed under TYPE_CHECKING), an upward import inside a function and a
    relative import are all found, so the two tests above cannot pass by seeing nothing."""
    files = {
        "retail/__init__.py": "",
        "retail/a.py": "from retail.b import thing\n",
        "retail/b.py": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import other\n"
        ),
        "retail/c.py": "def late():\n    from tools import base\n",
        "tools/__init__.py": "",
        "tools/base.py": "import retail.c\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    modules = project_modules(tmp_path, ("retail", "tools"))
    assert [str(e) for e in upward_imports(modules)] == ["retail.c (line 2) imports tools.base"]
    assert [[str(e) for e in cycle] for cycle in cycles_inside_packages(modules)] == [
        ["retail.a (line 1) imports retail.b", "retail.b (line 3) imports retail.a"]
    ]


def _third_party(modules: Mapping[str, Path]) -> list[str]:
    """Every third-party module the project imports (by its full dotted name)."""
    found: set[str] = set()
    for path in modules.values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            found.update(
                n for n in names if n.split(".")[0] not in LAYERS and n.split(".")[0] != "tests"
            )
    return sorted(found)


def test_every_module_imports_on_its_own() -> None:
    """Each module in a process that has imported nothing of the project (see import_each.py:
    the third-party libraries are loaded once, before the processes fork)."""
    modules = {m: p for m, p in project_modules(ROOT).items() if m not in RUN_BY_A_TOOL}
    jobs = str(min(4, os.cpu_count() or 2))
    command = [sys.executable, str(ROOT / "tests" / "import_each.py"), "--jobs", jobs]
    for package in LAYERS:
        command += ["--project", package]
    for name in _third_party(modules):
        command += ["--preload", name]
    done = subprocess.run(
        [*command, *modules],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])["results"]
    assert sorted(r["module"] for r in results) == sorted(modules)
    failed = [f"{r['module']}:\n{r['error']}" for r in results if r["error"]]
    assert not failed, "modules that do not import on their own:\n\n" + "\n\n".join(failed)
