"""Shared by the bench/*.py load tests: their database created and migrated, gunicorn started and stopped around a
run, and wrk's report read."""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def production_env(settings_module: str, **extra: str) -> dict:
    """The environment of a bench's app processes: production settings (DEBUG off, its required secrets set to
    bench values, no HTTPS redirect on plain-HTTP loopback) under `settings_module`, plus `extra`."""
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE=settings_module,
        DEBUG="false",
        SECRET_KEY="bench-secret-key-" + "x" * 40,
        STRIPE_SECRET_KEY="sk_test_bench",
        STRIPE_WEBHOOK_SECRET="whsec_bench",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


def migrated_database(database_url: str, env: dict) -> None:
    """Creates the bench's database when missing, migrates it with `env`, and takes `env` for this process, which
    then sets Django up on it."""
    import psycopg

    admin_url, db_name = database_url.rsplit("/", 1)
    with psycopg.connect(admin_url + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db_name]).fetchone():
            conn.execute(f'CREATE DATABASE "{db_name}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    os.environ.update(env)


def start_gunicorn(
    *, port: int, workers: int, threads: int, env: dict, extra: tuple[str, ...] = ()
) -> subprocess.Popen:
    """gunicorn on 127.0.0.1:`port` (gthread workers when `threads` > 1), returned once /healthz answers."""
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "afficone.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        "gthread" if threads > 1 else "sync",
        "--backlog",
        "2048",
        "--log-level",
        "warning",
        *extra,
    ]
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    wait_for_url(f"http://127.0.0.1:{port}/healthz", proc, "gunicorn")
    return proc


def wait_for_url(url: str, proc: subprocess.Popen, name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            if proc.poll() is not None:
                stderr = proc.stderr.read().decode() if proc.stderr else ""
                sys.exit(f"{name} exited:\n{stderr}")
            time.sleep(0.2)
    sys.exit(f"{name} did not answer within {timeout:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    """Ends a process started in its own session, and its children."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def run_wrk(
    url: str,
    *,
    seconds: int,
    connections: int,
    script: str | None = None,
    headers: tuple[str, ...] = (),
    env: dict | None = None,
) -> dict:
    """Requests/s, p50 and p99 in ms, requests, non-2xx answers and socket errors of one wrk run (2 threads)."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if script:
        command += ["-s", script]
    for header in headers:
        command += ["-H", header]
    out = subprocess.run([*command, url], env=env, capture_output=True, text=True, check=True).stdout

    def latency(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": latency("50"),
        "p99": latency("99"),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else "",
    }
