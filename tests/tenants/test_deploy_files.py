"""docker-compose.yml and the Dockerfile describe the production shape.

No container engine runs in CI, so the files are parsed and checked, not run.
"""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent.parent


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_long_running_service_has_a_health_check():
    services = compose()["services"]
    assert {"web", "worker", "beat", "postgres", "redis", "proxy"} <= set(services)
    for name, service in services.items():
        if service.get("restart") != "no":
            assert "healthcheck" in service, f"{name} has no health check"
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])


def test_the_processes_are_the_documented_ones():
    services = compose()["services"]
    assert services["web"]["command"][0] == "gunicorn" and services["web"]["command"][1] == "afficone.wsgi:application"
    assert services["worker"]["command"][:4] == ["celery", "-A", "afficone", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "afficone", "beat"]
    for name in ("web", "worker", "beat"):
        env = services[name]["environment"]
        assert env["DEBUG"] == "false"
        assert env["DATABASE_URL"].startswith("postgres://") and env["REDIS_URL"].startswith("redis://")
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_the_proxy_mounts_the_nginx_config_and_the_secrets_are_required():
    services = compose()["services"]
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in services["proxy"]["volumes"]
    # deploy/nginx.conf serves what the proxy image and the shared volume hold.
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "/srv/static" in nginx and "/srv/media" in nginx and "web:8000" in nginx
    assert "COPY --from=app /app/staticfiles /srv/static" in (ROOT / "Dockerfile").read_text()
    assert "media:/srv/media:ro" in services["proxy"]["volumes"]
    text = (ROOT / "docker-compose.yml").read_text()
    for name in ("SECRET_KEY", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"):
        assert f"${{{name}:?" in text  # compose refuses to start without them


def test_the_image_runs_as_a_non_root_user_and_collects_static_files_at_build():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM python:3.11-slim AS app" in dockerfile
    assert "collectstatic --noinput" in dockerfile
    app_stage = dockerfile.split("FROM nginx")[0]
    assert "\nUSER afficone\n" in app_stage
    # The image installs the runtime lock, which pins what requirements.lock pins.
    pins = lambda path: dict(  # noqa: E731
        line.split("==", 1)
        for line in (ROOT / path).read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    runtime, full = pins("requirements-prod.lock"), pins("requirements.lock")
    declared = {
        re.split(r"[<>=!\[ ]", requirement, maxsplit=1)[0].lower()
        for requirement in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    regenerate = (
        "regenerate: uv pip compile pyproject.toml -c requirements.lock -o requirements-prod.lock --python-version 3.11"
    )
    assert declared <= set(runtime), regenerate
    assert all(full.get(name) == version for name, version in runtime.items()), regenerate
    assert "playwright" not in runtime and "pytest" not in runtime
