"""Reads of the affiliates domain that more than one caller shares (attribution, the tracker, the API).

The pages' reads are in dashboard/ (reports.py, selectors.py, periods.py).
"""

from __future__ import annotations

from django.db import connection

from afficone import rawsql

from .models import Affiliate, Program, Referral


def referral_with_program(merchant_id: int, *, rid: str = "", stripe_customer_id: str = "") -> Referral | None:
    """The merchant's referral with this id (or linked to this Stripe customer), its affiliate and program loaded:
    what recording a commission reads. One hand-written join (afficone/rawsql.py): this runs for every payment."""
    if bool(rid) == bool(stripe_customer_id):
        raise ValueError("Give exactly one of rid and stripe_customer_id.")
    qn = connection.ops.quote_name
    referral_fields, referral_columns = rawsql.columns(Referral, "r")
    affiliate_fields, affiliate_columns = rawsql.columns(Affiliate, "a")
    program_fields, program_columns = rawsql.columns(Program, "p")
    column, value = ("rid", rid) if rid else ("stripe_customer_id", stripe_customer_id)
    sql = (
        f"SELECT {referral_columns}, {affiliate_columns}, {program_columns} "
        f"FROM {qn(Referral._meta.db_table)} r "
        f"JOIN {qn(Affiliate._meta.db_table)} a ON a.id = r.affiliate_id "
        f"JOIN {qn(Program._meta.db_table)} p ON p.id = a.program_id "
        f"WHERE r.merchant_id = %s AND r.{qn(column)} = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [merchant_id, value])
        row = cursor.fetchone()
    if row is None:
        return None
    referral, affiliate, program = rawsql.split(
        row, (Referral, referral_fields), (Affiliate, affiliate_fields), (Program, program_fields)
    )
    affiliate.program = program
    referral.affiliate = affiliate
    return referral
