"""Imports go one way: the domain apps never import the web layers above them, the web layers' modules import the
project at their top (none hidden in a function to dodge a cycle), and of the web layers only the portal reads
another (the dashboard's reports, periods and selectors, which show an affiliate their slice of the same figures)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = ("tenants", "affiliates", "tracking", "stripe_integration")
WEB = ("dashboard", "portal", "api")
PROJECT = {*DOMAIN, *WEB, "afficone"}
# What each web layer may import of the others.
WEB_ALLOWED = {"dashboard": set(), "portal": {"dashboard"}, "api": set()}


def modules(package: str) -> list[Path]:
    return [p for p in sorted((ROOT / package).rglob("*.py")) if "migrations" not in p.parts]


def imports(path: Path) -> list[tuple[str, int, bool]]:
    """(top-level package imported, line, whether at module level) for each absolute import of `path`."""
    tree = ast.parse(path.read_text(), str(path))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [(name.split(".")[0], node.lineno, id(node) in top_level) for name in names]
    return found


def offences(package: str) -> list[str]:
    found = []
    for path in modules(package):
        rel = path.relative_to(ROOT)
        for imported, line, at_top in imports(path):
            if package in DOMAIN and imported in WEB:
                found.append(f"{rel}:{line}: the domain imports the web layer {imported}")
            if package in WEB and imported in WEB and imported != package and imported not in WEB_ALLOWED[package]:
                found.append(f"{rel}:{line}: {package} imports {imported}")
            if package in WEB and imported in PROJECT and not at_top:
                found.append(f"{rel}:{line}: an import of {imported} inside a function")
    return found


@pytest.mark.parametrize("package", [*DOMAIN, *WEB])
def test_imports_go_one_way(package):
    assert offences(package) == []


def test_the_check_sees_an_import_hidden_in_a_function(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import os\n\n\ndef f():\n    from dashboard import reports\n")
    assert imports(module) == [("os", 1, True), ("dashboard", 5, False)]
