"""Import discipline: modules import at the top; an import inside a function is kept only for a
heavy third-party library whose start-up cost was measured (pyproject.toml's
``[tool.loyalty.imports] heavy``) and, in the command-line package, for our own packages too (so
that ``loyalty --help`` stays instant). ruff's PLC0415 enforces where deferred imports may be
(``[tool.ruff.lint.per-file-ignores]``); these tests check what they defer, and that every file
allowed to defer still does (no stale entries). Both lists are read from pyproject.toml.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETTINGS = PYPROJECT["tool"]["loyalty"]["imports"]
HEAVY = frozenset(SETTINGS["heavy"])
CLI = "loyalty"
OURS = frozenset(PYPROJECT["tool"]["importlinter"]["root_packages"])
IGNORES = PYPROJECT["tool"]["ruff"]["lint"]["per-file-ignores"]
ALLOWED = frozenset(path for path, rules in IGNORES.items() if "PLC0415" in rules)
EVERYWHERE = frozenset({"tests/**", "bench/**"})  # tests and benchmarks may defer anything


def deferred_imports(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, module) of every import inside a function, ``if TYPE_CHECKING:`` blocks aside."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if in_function and isinstance(child, ast.Import):
                found.extend((child.lineno, alias.name) for alias in child.names)
            elif in_function and isinstance(child, ast.ImportFrom):
                found.append((child.lineno, "." * child.level + (child.module or "")))
            nested = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            visit(child, in_function or nested)

    visit(tree, False)
    return found


def our_modules() -> dict[str, list[tuple[int, str]]]:
    """Every module of our packages (relative path) with its deferred imports."""
    return {
        path.relative_to(ROOT).as_posix(): deferred_imports(ast.parse(path.read_text()))
        for package in sorted(OURS)
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def test_deferred_imports_are_heavy_libraries_or_in_the_cli_our_packages() -> None:
    wrong = []
    for path, imports in our_modules().items():
        allowed = HEAVY | OURS if path.startswith(f"{CLI}/") else HEAVY
        wrong += [
            f"{path}:{line}: import {module}"
            for line, module in imports
            if module.split(".")[0] not in allowed
        ]
    assert wrong == [], "move these imports to the top of their module:\n" + "\n".join(wrong)


def test_every_file_allowed_to_defer_still_does() -> None:
    modules = our_modules()
    files = ALLOWED - EVERYWHERE
    assert all("*" not in path for path in files), "name each file, not a pattern"
    stale = sorted(path for path in files if not modules.get(path))
    assert stale == [], f"no deferred import left: drop from per-file-ignores: {stale}"


def test_every_file_that_defers_is_allowed() -> None:
    """The same list as ruff's PLC0415, so the allowlist is exactly the files that defer."""
    deferring = {path for path, imports in our_modules().items() if imports}
    assert sorted(deferring - ALLOWED) == []


def test_the_heavy_set_names_third_party_libraries() -> None:
    assert HEAVY and not HEAVY & (OURS | set(sys.stdlib_module_names))
