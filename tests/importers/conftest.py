"""Fixtures for the importers' tests: the vendors' export fixtures, the command, and the REST API as a merchant's
code reads it."""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tenants.services import create_api_key
from tests.api.conftest import Api
from tests.tracking.test_browser import shop, shop_browser, shop_server  # noqa: F401  (the merchant's site, in Chromium)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "importers"


@pytest.fixture
def run_import():
    """Runs `manage.py import_affiliates` and returns (succeeded, what it printed, the error it exited with)."""

    def run(merchant, platform: str, name: str | Path, *, dry_run: bool = False) -> tuple[bool, str, str]:
        path = name if isinstance(name, Path) else FIXTURES / name
        out = StringIO()
        args = ["--merchant", merchant.slug, "--from", platform, str(path), *(["--dry-run"] if dry_run else [])]
        try:
            call_command("import_affiliates", *args, stdout=out)
        except CommandError as error:
            return False, out.getvalue(), str(error)
        return True, out.getvalue(), ""

    return run


@pytest.fixture
def api(merchant):
    _, raw_key = create_api_key(merchant, name="importer tests")
    return Api(raw_key)


def results(api, path: str, **params) -> list[dict]:
    response = api.get(path, params)
    assert response.status_code == 200, response.content
    return response.json()["results"]
