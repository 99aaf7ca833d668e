"""Processes of the production shape started by a test: gunicorn and a bare Celery worker on the test database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request

from tests.conftest import ARTIFACTS, ROOT, wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(args: list[str], env: dict, log_name: str) -> subprocess.Popen:
    ARTIFACTS.mkdir(exist_ok=True)
    log = (ARTIFACTS / log_name).open("wb")
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()  # the main process only: a warm shutdown, as `docker compose stop` asks
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def start_web(env: dict, log_name: str) -> tuple[subprocess.Popen, str]:
    """gunicorn serving the app (one process, four threads) on a free port; (its process, its base URL)."""
    port = free_port()
    args = [sys.executable, "-m", "gunicorn", "afficone.wsgi:application", "--bind", f"127.0.0.1:{port}"]
    web = start([*args, "--workers", "1", "--threads", "4", "--timeout", "30"], env, log_name)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: web.poll() is not None or healthy(base), timeout=30, interval=0.2)
    except BaseException:
        stop(web)
        raise
    assert web.poll() is None, f"gunicorn exited at start; see test-artifacts/{log_name}"
    return web, base
