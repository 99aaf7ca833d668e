"""The dashboard's one hand-written statement: the top affiliates' sums over raw commissions and closed months.

The ORM cannot group a union, so its version is one query per part summed in Python (every affiliate of the tenant
crosses the wire); this is the same sums in one statement that returns only the top rows. Written out from the
models' own table and column names; `tests/test_rawsql.py` proves it equal to the ORM's parts summed in Python.
"""

from __future__ import annotations

from datetime import date, datetime

from django.db import connection

from affiliates.models import AffiliateCommissionMonth, Commission


def top_affiliate_sums(
    merchant_id: int, *, raw_ranges: list[tuple[datetime, datetime]], months: list[date], limit: int
) -> list[dict]:
    """Per (affiliate, currency): revenue (paid less refunded), earned (amount less reversed) and payments, over the
    merchant's commissions created in each [start, end) of `raw_ranges` (voided ones left out) plus the rolled-up
    `months`; most earned first, the lower affiliate id breaking ties; the first `limit` rows."""
    qn = connection.ops.quote_name
    c = {f.name: qn(f.column) for f in Commission._meta.concrete_fields}
    m = {f.name: qn(f.column) for f in AffiliateCommissionMonth._meta.concrete_fields}
    parts, params = [], []
    for start, end in raw_ranges:
        parts.append(
            f"SELECT {c['affiliate']} AS affiliate_id, {c['currency']} AS currency, "
            f"SUM({c['base_amount']} - {c['refunded_amount']}) AS revenue, "
            f"SUM({c['amount']} - {c['reversed_amount']}) AS earned, COUNT(*) AS n "
            f"FROM {qn(Commission._meta.db_table)} "
            f"WHERE {c['merchant']} = %s AND {c['created_at']} >= %s AND {c['created_at']} < %s "
            f"AND {c['status']} <> %s GROUP BY {c['affiliate']}, {c['currency']}"
        )
        params += [merchant_id, start, end, Commission.Status.VOIDED]
    if months:
        parts.append(
            f"SELECT {m['affiliate']} AS affiliate_id, {m['currency']} AS currency, SUM({m['revenue']}) AS revenue, "
            f"SUM({m['net']}) AS earned, SUM({m['payments']}) AS n FROM {qn(AffiliateCommissionMonth._meta.db_table)} "
            f"WHERE {m['merchant']} = %s AND {m['month']} IN ({', '.join(['%s'] * len(months))}) "
            f"GROUP BY {m['affiliate']}, {m['currency']}"
        )
        params += [merchant_id, *months]
    if not parts:
        return []
    union = " UNION ALL ".join(f"SELECT * FROM ({part}) AS part{i}" for i, part in enumerate(parts))
    sql = (
        "SELECT affiliate_id, currency, CAST(SUM(revenue) AS bigint), CAST(SUM(earned) AS bigint), "
        f"CAST(SUM(n) AS bigint) FROM ({union}) AS parts GROUP BY affiliate_id, currency "
        "ORDER BY 4 DESC, 1 ASC LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, limit])
        names = ("affiliate_id", "currency", "revenue", "earned", "n")
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
