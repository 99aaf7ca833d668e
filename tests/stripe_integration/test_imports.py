"""stripe_integration's imports go one way, all at module top: views and tasks -> reconciliation -> drainers ->
services and slots -> models.

An import inside a function is how a cycle hides; a service importing tasks or drainers is how one starts (services
ask for nothing: the drainers ask for processing, and enqueue tasks by name through afficone.celery.send_task).
"""

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "stripe_integration"
# Nothing under a layer imports a layer above it.
ABOVE = {
    "slots": {"services", "drainers", "reconciliation", "tasks", "views", "connect_views", "urls", "admin"},
    "services": {"drainers", "reconciliation", "tasks", "views", "connect_views", "urls", "admin"},
    "drainers": {"reconciliation", "tasks", "views", "connect_views", "urls", "admin"},
    "reconciliation": {"tasks", "views", "connect_views", "urls", "admin", "templatetags"},
    "tasks": {"views", "connect_views", "urls", "admin"},
}


def modules():
    for path in sorted(APP.rglob("*.py")):
        if "migrations" not in path.parts:
            yield path, ast.parse(path.read_text(), filename=str(path))


def imported_app_modules(path: Path, tree: ast.Module) -> set[str]:
    """The stripe_integration modules `path` imports, by their first name under the app (`services`, `tasks`...)."""
    package = path.relative_to(APP.parent).with_suffix("").parts[:-1]
    if path.name == "__init__.py":
        package = path.relative_to(APP.parent).parts[:-1]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                full = (*base, *(node.module or "").split(".")) if node.module else base
                targets = [(*full, alias.name) for alias in node.names] if not node.module else [full]
            else:
                targets = [tuple((node.module or "").split("."))]
        elif isinstance(node, ast.Import):
            targets = [tuple(alias.name.split(".")) for alias in node.names]
        else:
            continue
        for target in targets:
            if len(target) > 1 and target[0] == "stripe_integration":
                names.add(target[1])
    return names


def test_no_import_inside_a_function():
    found = []
    for path, tree in modules():
        for node in ast.walk(tree):
            # An AppConfig's ready() imports its signal receivers: Django's way to connect them once the apps load.
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not (
                node.name == "ready" and path.name == "apps.py"
            ):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Import | ast.ImportFrom):
                        found.append(f"{path.relative_to(APP.parent)}:{inner.lineno}")
    assert found == []


def test_no_module_imports_a_layer_above_its_own():
    found = []
    for path, tree in modules():
        layer = path.relative_to(APP).parts[0].removesuffix(".py")
        for name in imported_app_modules(path, tree) & ABOVE.get(layer, set()):
            found.append(f"{path.relative_to(APP.parent)} imports stripe_integration.{name}")
    assert found == []
