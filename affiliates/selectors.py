"""Reads of the affiliates domain that more than one caller shares (attribution, the tracker, the API).

The pages' reads are in dashboard/ (reports.py, selectors.py, periods.py).
"""

from __future__ import annotations

from afficone import rawsql

from .models import Referral


def referral_with_program(merchant_id: int, *, rid: str = "", stripe_customer_id: str = "") -> Referral | None:
    """The merchant's referral with this id (or linked to this Stripe customer), its affiliate and program loaded:
    what recording a commission reads. One join written once (afficone.rawsql.get_with_related): this runs for every
    payment, and compiling the ORM's select_related every time cost more than the round trip."""
    if bool(rid) == bool(stripe_customer_id):
        raise ValueError("Give exactly one of rid and stripe_customer_id.")
    key = {"rid": rid} if rid else {"stripe_customer_id": stripe_customer_id}
    return rawsql.get_with_related(Referral, "affiliate__program", merchant_id=merchant_id, **key)
