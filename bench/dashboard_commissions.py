"""The commissions list for the seeded 100k-commission tenant vs an empty tenant; see bench/dashboard_common.py."""

from dashboard_common import report

report([
    "/commissions/",
    "/commissions/?status=approved",
    "/commissions/?status=owed&period=90d",
    "/commissions/?affiliate=bench3",
    "/commissions/?page=500",
])
