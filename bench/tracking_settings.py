"""Settings for bench/tracking_click.py: production settings plus a bare view to compare against."""

from afficone.settings.base import *  # noqa: F403

ROOT_URLCONF = "bench.tracking_urls"
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
# The second baseline: the bare view on the tracker endpoints' fast path.
FAST_ENDPOINTS = {**FAST_ENDPOINTS, "/bench/bare-fast": "bench.tracking_urls.bare"}  # noqa: F405
