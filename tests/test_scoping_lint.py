"""Tenant scoping cannot be skipped in views (ARCHITECTURE.md, "Rules that hold everywhere").

In the views and APIs of the apps and their web layers, a tenant-owned model (one with a
`merchant` foreign key) is reached only through `Model.objects.for_merchant(...)`
(or a related manager). `Model.objects.get(`, `.filter(`, and the other
queryset methods straight off the manager, and `get_object_or_404(Model, ...)`,
are offenders: they would read or change any tenant's rows.
"""

import ast
from pathlib import Path

import pytest
from django.apps import apps

ROOT = Path(__file__).resolve().parent.parent
APPS = ("tenants", "affiliates", "tracking", "stripe_integration", "webhooks")
# The web layers over those apps (dashboard/, portal/, api/) hold no models, only views.
VIEW_DIRS = (*APPS, "dashboard", "portal", "api")
# Reached straight off the manager, these read or write rows of every tenant.
UNSCOPED = {
    "get",
    "filter",
    "exclude",
    "get_or_create",
    "update_or_create",
    "in_bulk",
    "first",
    "last",
    "latest",
    "earliest",
    "values",
    "values_list",
    "count",
    "exists",
    "aggregate",
    "annotate",
    "iterator",
    "update",
    "delete",
    "raw",
    "select_related",
    "prefetch_related",
    "order_by",
    "only",
    "defer",
    "distinct",
    "select_for_update",
    "alias",
}
SHORTCUTS = {"get_object_or_404", "get_list_or_404"}


def tenant_models() -> set[str]:
    return {
        model.__name__
        for app in APPS
        for model in apps.get_app_config(app).get_models()
        if any(field.name == "merchant" and field.many_to_one for field in model._meta.get_fields())
    }


def view_files() -> list[Path]:
    files = []
    for app in VIEW_DIRS:
        for path in sorted((ROOT / app).rglob("*.py")):
            rel = path.relative_to(ROOT / app)
            name = path.name
            in_package = rel.parts[0] in ("views", "api") if len(rel.parts) > 1 else False
            if name in ("views.py", "api.py") or name.endswith(("_views.py", "_api.py")) or in_package:
                files.append(path)
    return files


def _model_name(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """`Affiliate`, `models.Affiliate` or an imported alias, as the model's own name."""
    if isinstance(node, ast.Name):
        return aliases.get(node.id, node.id)
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _mixin_scoped_nodes(tree: ast.AST) -> set[int]:
    """Nodes of `queryset = ...` in DRF classes built on MerchantScopedMixin, whose get_queryset() scopes them."""
    exempt: set[int] = set()
    for cls in ast.walk(tree):
        if not isinstance(cls, ast.ClassDef):
            continue
        if not any(_model_name(base, {}) == "MerchantScopedMixin" for base in cls.bases):
            continue
        for statement in cls.body:
            if isinstance(statement, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "queryset" for t in statement.targets
            ):
                exempt.update(id(n) for n in ast.walk(statement.value))
    return exempt


def offenders(source: str, models: set[str], filename: str = "<source>") -> list[str]:
    tree = ast.parse(source, filename)
    aliases = {
        alias.asname: alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.asname
    }
    exempt = _mixin_scoped_nodes(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or id(node) in exempt:
            continue
        manager = node.value
        # <Model>.objects.<method>
        if isinstance(manager, ast.Attribute) and manager.attr == "objects":
            model = _model_name(manager.value, aliases)
            if model in models and node.attr in UNSCOPED:
                found.append(f"{filename}:{node.lineno}: {model}.objects.{node.attr}(")
        # <Model>.objects.all().<method>: the same, one step later
        if (
            isinstance(manager, ast.Call)
            and isinstance(manager.func, ast.Attribute)
            and manager.func.attr == "all"
            and isinstance(manager.func.value, ast.Attribute)
            and manager.func.value.attr == "objects"
        ):
            model = _model_name(manager.func.value.value, aliases)
            if model in models and node.attr in UNSCOPED:
                found.append(f"{filename}:{node.lineno}: {model}.objects.all().{node.attr}(")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in SHORTCUTS and node.args:
            model = _model_name(node.args[0], aliases)
            if isinstance(node.args[0], (ast.Name, ast.Attribute)) and model in models:
                found.append(f"{filename}:{node.lineno}: {node.func.id}({model}, ...)")
    return found


MODELS_FOR_SELF_TEST = {"Affiliate", "Commission", "ApiKey"}


@pytest.mark.parametrize(
    "source",
    [
        "Affiliate.objects.get(code=code)",
        "Commission.objects.filter(status='paid')",
        "from affiliates.models import Commission as C\nC.objects.filter(pk=1)",
        "from affiliates import models\nmodels.Affiliate.objects.get(pk=1)",
        "Affiliate.objects.all().filter(code=code)",
        "Affiliate.objects.select_related('program').get(code=code)",
        "ApiKey.objects.exclude(revoked_at=None)",
        "get_object_or_404(Commission, code=code)",
        "Affiliate.objects.count()",
        "class V(GenericViewSet):\n    queryset = Affiliate.objects.select_related('program')",  # no mixin: unscoped
    ],
)
def test_the_lint_finds_unscoped_access(source):
    assert len(offenders(source, MODELS_FOR_SELF_TEST)) == 1


@pytest.mark.parametrize(
    "source",
    [
        "get_object_or_404(Affiliate.objects.for_merchant(request.merchant), code=code)",
        "Commission.objects.for_merchant(m).filter(status='paid').get(pk=1)",
        # DRF: MerchantScopedMixin's get_queryset() scopes the class's queryset.
        "class V(MerchantScopedMixin, GenericViewSet):\n    queryset = Affiliate.objects.select_related('program')",
        "request.user.memberships.filter(merchant__code=code)",  # a related manager is scoped by its owner
        "Merchant.objects.get(slug=slug)",  # not tenant-owned: the tenant itself
        "affiliate.commissions.filter(status='paid')",
    ],
)
def test_the_lint_accepts_scoped_access(source):
    assert offenders(source, MODELS_FOR_SELF_TEST) == []


def test_the_lint_knows_the_tenant_owned_models():
    models = tenant_models()
    assert {"Affiliate", "Commission", "Referral", "Payout", "Click", "ApiKey", "Membership", "Invitation"} <= models
    assert "Merchant" not in models and "User" not in models


def test_views_and_apis_reach_tenant_rows_only_through_for_merchant():
    files = view_files()
    assert {ROOT / "tenants" / "views.py", ROOT / "dashboard" / "views.py", ROOT / "portal" / "views.py"} <= set(files)
    assert ROOT / "api" / "views.py" in files
    models = tenant_models()
    found = [hit for path in files for hit in offenders(path.read_text(), models, str(path.relative_to(ROOT)))]
    assert found == [], "unscoped access to tenant-owned rows (use Model.objects.for_merchant(...)):\n" + "\n".join(
        found
    )
