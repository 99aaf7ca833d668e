"""How /t.js is served in production (run by hand; prints figures and ratios, asserts nothing).

    .venv/bin/python bench/tracking_script.py [--seconds 5] [--connections 64]

Runs nginx with deploy/nginx.conf (paths and upstream pointed at this
machine) in front of gunicorn, and measures with wrk at 64 connections:
  - GET /t.js through nginx (gzipped, from the files `collectstatic` writes): no Python involved;
  - the same with If-None-Match (the 304 a returning browser gets after a day);
  - GET /t.js from gunicorn directly (the Django view used where no proxy runs), as the baseline.
Needs nginx (Debian: apt-get install nginx-light) and wrk.
"""

import argparse
import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from harness import production_env, run_wrk, stop, wait_for_url


def wrk(url: str, seconds: int, connections: int, headers: list[str]) -> dict:
    return run_wrk(url, seconds=seconds, connections=connections, headers=tuple(headers))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--web-port", type=int, default=8766)
    parser.add_argument("--proxy-port", type=int, default=8767)
    args = parser.parse_args()
    for tool in ("nginx", "wrk"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed (Debian: apt-get install {'nginx-light' if tool == 'nginx' else tool})")

    work = Path(tempfile.mkdtemp(prefix="afficone-bench-nginx-"))
    work.chmod(0o755)  # nginx's workers run as an unprivileged user
    static = work / "static" / "tracking"
    static.mkdir(parents=True)
    (work / "media").mkdir()
    script = (ROOT / "static" / "tracking" / "t.js").read_bytes()
    (static / "t.js").write_bytes(script)
    (static / "t.js.gz").write_bytes(gzip.compress(script, compresslevel=9))  # what collectstatic writes
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    conf = conf.replace("/srv/", f"{work}/").replace("server web:8000;", f"server 127.0.0.1:{args.web_port};")
    conf = conf.replace("listen 80 default_server;", f"listen 127.0.0.1:{args.proxy_port} default_server;")
    conf = conf.replace("listen [::]:80 default_server;", "").replace("pid /tmp/nginx.pid;", f"pid {work}/nginx.pid;")
    (work / "nginx.conf").write_text(conf)

    env = production_env("afficone.settings")
    web = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "afficone.wsgi:application",
            "--bind",
            f"127.0.0.1:{args.web_port}",
            "--workers",
            "3",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    proxy = subprocess.Popen(
        ["nginx", "-c", str(work / "nginx.conf"), "-e", str(work / "error.log"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_url(f"http://127.0.0.1:{args.web_port}/t.js", web, "gunicorn")
        wait_for_url(f"http://127.0.0.1:{args.proxy_port}/t.js", proxy, "nginx")
        via_proxy = f"http://127.0.0.1:{args.proxy_port}/t.js"
        request = urllib.request.Request(via_proxy, headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request) as answer:
            etag, size = answer.headers["ETag"], len(answer.read())
            print(f"nginx /t.js: {size} bytes gzipped, ETag {etag}, Cache-Control {answer.headers['Cache-Control']}")
        print(
            f"load before: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}; {os.cpu_count()} CPUs; "
            f"wrk 2 threads, {args.connections} connections, {args.seconds} s per run"
        )
        runs = {
            "gunicorn (the Django view)": wrk(
                f"http://127.0.0.1:{args.web_port}/t.js", args.seconds, args.connections, ["Accept-Encoding: gzip"]
            ),
            "nginx, 200 gzipped": wrk(via_proxy, args.seconds, args.connections, ["Accept-Encoding: gzip"]),
            "nginx, 304 revalidation": wrk(
                via_proxy, args.seconds, args.connections, ["Accept-Encoding: gzip", f"If-None-Match: {etag}"]
            ),
        }
    finally:
        stop(proxy)
        stop(web)
        shutil.rmtree(work, ignore_errors=True)
    baseline = runs["gunicorn (the Django view)"]["rps"]
    for name, run in runs.items():
        print(
            f"{name:28} {run['rps']:9.0f} req/s  p50 {run['p50']:6.1f} ms  p99 {run['p99']:6.1f} ms  "
            f"x{run['rps'] / baseline:.1f} the Django view  (non-2xx/3xx: {run['non2xx']})"
        )


if __name__ == "__main__":
    main()
