"""The project's modules import one another one way, at the top of the file, along the layers ARCHITECTURE.md draws.

Read from the source with `ast`, so nothing is imported: a cycle, an import hidden in a function or a class to dodge
one, or a lower layer importing a higher one fails here with the modules named.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "afficone",
    "tenants",
    "affiliates",
    "tracking",
    "stripe_integration",
    "webhooks",
    "dashboard",
    "portal",
    "api",
)

# Bottom to top. A module may import its own layer's modules and those of lower layers, never a higher layer's.
# The first prefix that names a module decides its layer (longest prefixes first within a layer do not matter:
# prefixes never overlap across layers except where listed in order).
LAYERS: list[tuple[str, ...]] = [
    # Leaves: shared plumbing that knows nothing of the apps.
    (
        "afficone.rawsql",
        "afficone.redis_client",
        "afficone.jsonbody",
        "afficone.ratelimit",
        "afficone.online_migrations",
        "afficone.enqueue",
        "afficone.broker",
        "afficone.celery",
        "afficone.settings",
    ),
    ("tenants",),
    ("affiliates",),
    ("tracking", "stripe_integration"),
    (
        "dashboard",
        "portal",
        "api",
        "webhooks",
        "tenants.views",
        "tenants.urls",
        "tenants.middleware",
        "tenants.context_processors",
    ),
    ("afficone",),
]
# Entry points and wiring may use anything: commands, migrations, the admin, URL confs.
TOP = ("management.commands", "migrations", "admin", "urls")
# Within the web layer, the packages that may read one another: the portal shows an affiliate its slice of the
# dashboard's figures; outbound webhooks send the API's representations.
WEB = ("dashboard", "portal", "api", "webhooks")
WEB_READS = {"portal": {"dashboard"}, "webhooks": {"api"}}


def _layer(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (prefix length, layer)
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            names_it = module == prefix or module.startswith(prefix + ".")
            if names_it and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    return None if best is None else best[1]


def _is_entry_point(module: str) -> bool:
    return any(f".{part}." in f".{module}." for part in TOP)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        base = ROOT / package
        if not base.is_dir():
            continue
        for path in base.rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(module: str, node: ast.ImportFrom | ast.Import) -> list[str]:
    """The project modules an import statement names (a `from x import y` names x.y when y is a module)."""
    names: list[str] = []
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".")
            if MODULES[module].name != "__init__.py":
                package = package[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join(package + ([base] if base else []))
        submodules = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES]
        # `from package import module` depends on the module; the package's own names only when it takes some.
        names = submodules if len(submodules) == len(node.names) else [base, *submodules]
    resolved = []
    for name in names:
        # `import a.b.c` depends on the deepest project module it names.
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name:
            resolved.append(name)
    return resolved


class _Imports(ast.NodeVisitor):
    def __init__(self, module: str) -> None:
        self.module = module
        self.top: set[str] = set()
        self.hidden: list[tuple[int, str]] = []
        self.depth = 0
        self.type_checking = 0

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        # An AppConfig's ready() imports its signal receivers: Django's way to connect them once the apps are loaded.
        if node.name == "ready" and self.module.endswith(".apps"):
            return
        self._nested(node)

    def _nested(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_ClassDef = _nested

    def visit_If(self, node: ast.If) -> None:
        guard = isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        guard = guard or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")
        self.type_checking += guard
        self.generic_visit(node)
        self.type_checking -= guard

    def _import(self, node: ast.Import | ast.ImportFrom) -> None:
        if self.type_checking:
            return
        for target in _resolve(self.module, node):
            if target == self.module:
                continue
            if self.depth:
                self.hidden.append((node.lineno, target))
            else:
                self.top.add(target)

    visit_Import = visit_ImportFrom = _import


def _graph() -> tuple[dict[str, set[str]], dict[str, list[tuple[int, str]]]]:
    edges, hidden = {}, {}
    for module, path in MODULES.items():
        visitor = _Imports(module)
        visitor.visit(ast.parse(path.read_text(), filename=str(path)))
        edges[module] = visitor.top
        if visitor.hidden:
            hidden[module] = visitor.hidden
    return edges, hidden


EDGES, HIDDEN = _graph()


def _package_of(module: str) -> str:
    return module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _without_package_inits(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """A package's __init__ re-exporting its own modules is not a cycle with them."""
    pruned = {}
    for module, targets in edges.items():
        pruned[module] = {
            t
            for t in targets
            if not (MODULES[t].name == "__init__.py" and module.startswith(t + "."))
            and not (MODULES[module].name == "__init__.py" and t.startswith(module + "."))
        }
    return pruned


def test_the_graph_sees_the_project():
    assert len(MODULES) > 60
    assert "stripe_integration" in {m.split(".")[0] for m in EDGES}
    assert any(EDGES.values())


def test_no_import_cycles():
    assert _cycles(_without_package_inits(EDGES)) == []


def test_no_project_imports_hidden_in_functions_or_classes():
    assert HIDDEN == {}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not _is_entry_point(m)))
def test_imports_go_down_the_layers(module):
    layer = _layer(module)
    assert layer is not None, f"{module} belongs to no layer: add it to LAYERS"
    upward = sorted(t for t in EDGES[module] if (_layer(t) or 0) > layer and not _is_entry_point(t))
    assert upward == [], f"{module} (layer {layer}) imports higher layers"


@pytest.mark.parametrize("package", WEB)
def test_web_layers_read_only_the_siblings_they_show(package):
    allowed = WEB_READS.get(package, set())
    reads = {
        (module, target)
        for module, targets in EDGES.items()
        if module.split(".")[0] == package and not _is_entry_point(module)
        for target in targets
        if target.split(".")[0] in WEB and target.split(".")[0] not in {package, *allowed}
    }
    assert reads == set()


def test_the_check_sees_cycles_hidden_imports_and_upward_imports(tmp_path):
    source = "import os\nfrom affiliates import links\n\n\ndef f():\n    from dashboard import reports\n"
    visitor = _Imports("tenants.example")
    MODULES["tenants.example"] = tmp_path / "example.py"
    try:
        visitor.visit(ast.parse(source))
    finally:
        del MODULES["tenants.example"]
    assert visitor.top == {"affiliates.links"}
    assert visitor.hidden == [(6, "dashboard.reports")]
    assert _layer("tenants.example") < _layer("affiliates.links") < _layer("dashboard.reports")
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
