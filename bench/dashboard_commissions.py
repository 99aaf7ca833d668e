"""The commissions list for the seeded 100k-commission tenant vs an empty tenant; see bench/dashboard_common.py.

The list pages by cursor (?after=<the last row's cursor>): the deep page below is the one after the 24,950th
newest commission, the old `?page=500`.
"""

from dashboard_common import deep_cursor, report

report(
    [
        "/commissions/",
        "/commissions/?status=approved",
        "/commissions/?status=owed&period=90d",
        "/commissions/?affiliate=bench3",
        f"/commissions/?after={deep_cursor(24_950)}",
    ]
)
