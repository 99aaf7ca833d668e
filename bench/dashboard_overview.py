"""The overview (and affiliate list) for the seeded 1M-click tenant vs an empty tenant.

See bench/dashboard_common.py.
"""

from dashboard_common import report

report(
    [
        "/dashboard/?period=30d",
        "/dashboard/?period=12m",
        "/dashboard/?period=all",
        "/affiliates/",
    ]
)
