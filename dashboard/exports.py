"""The dashboard's CSV downloads: affiliates, commissions, and a payout batch (PayPal's upload format or generic).

Rows are streamed; every cell a person typed goes through `_safe_cell`, so a spreadsheet never runs it.
"""

import csv

from django.http import StreamingHttpResponse
from django.utils import timezone

from affiliates import money, services
from affiliates.links import referral_link

from . import reports


def affiliates_csv(merchant, affiliates):
    """Every matching affiliate with their link, payout details and all-time commissions (net, per currency)."""
    writer = csv.writer(_Echo())
    earned = reports.affiliate_money(merchant)

    def rows():
        yield writer.writerow(
            [
                "code",
                "name",
                "email",
                "status",
                "joined_at",
                "link",
                "payout_method",
                "paypal_email",
                "bank_details",
                "currency",
                "owed",
                "paid",
            ]
        )
        for a in affiliates.iterator(chunk_size=2000):
            money_rows = earned.get(a.pk) or {"": {"owed": 0, "paid": 0}}
            for currency, sums in sorted(money_rows.items()):
                yield writer.writerow(
                    [
                        _safe_cell(a.code),
                        _safe_cell(a.name),
                        _safe_cell(a.email),
                        a.status,
                        a.created_at.isoformat(),
                        display_link(merchant, a),
                        a.payout_method,
                        _safe_cell(a.paypal_email),
                        _safe_cell(a.bank_details),
                        currency.upper(),
                        money.to_major(sums["owed"], currency) if currency else "",
                        money.to_major(sums["paid"], currency) if currency else "",
                    ]
                )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="affiliates-{timezone.now():%Y%m%d}.csv"'
    return response


def display_link(merchant, affiliate) -> str:
    return referral_link(merchant.website or "https://your-shop.example", affiliate.code)


class _Echo:
    def write(self, value):
        return value


def _safe_cell(value) -> str:
    """Spreadsheets run cells that start with = + - @ as formulas: neutralise them (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in (*services.FORMULA_PREFIXES, "\t", "\r") else text


def commissions_csv(qs):
    writer = csv.writer(_Echo())
    header = [
        "id",
        "created_at",
        "affiliate_code",
        "affiliate_email",
        "status",
        "amount",
        "reversed",
        "net",
        "currency",
        "payment_amount",
        "refunded",
        "source_type",
        "source_id",
        "rule",
        "recurring",
        "void_reason",
        "paid_at",
    ]

    def rows():
        yield writer.writerow(header)
        for c in qs.select_related("affiliate").order_by("created_at", "pk").iterator(chunk_size=2000):
            yield writer.writerow(
                [
                    c.public_id,
                    c.created_at.isoformat(),
                    _safe_cell(c.affiliate.code),
                    _safe_cell(c.affiliate.email),
                    c.status,
                    money.to_major(c.amount, c.currency),
                    money.to_major(c.reversed_amount, c.currency),
                    money.to_major(c.net_amount, c.currency),
                    c.currency.upper(),
                    money.to_major(c.base_amount, c.currency),
                    money.to_major(c.refunded_amount, c.currency),
                    c.source_type,
                    _safe_cell(c.source_id),
                    c.rule_label,
                    "yes" if c.is_recurring else "no",
                    _safe_cell(c.void_reason),
                    c.paid_at.isoformat() if c.paid_at else "",
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="commissions-{timezone.now():%Y%m%d}.csv"'
    return response


def batch_csv(batch, payouts, kind: str, merchant):
    response = StreamingHttpResponse(_batch_rows(kind, payouts, merchant), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="payouts-{batch.created_at:%Y%m%d-%H%M}-{kind}.csv"'
    return response


def _batch_rows(kind: str, payouts, merchant):
    """PayPal's Payouts upload: no header; email, amount, currency, reference id, note, wallet. Generic: everything."""
    writer = csv.writer(_Echo())
    if kind == "paypal":
        for p in payouts:
            if p.affiliate.paypal_email:
                yield writer.writerow(
                    [
                        _safe_cell(p.affiliate.paypal_email),
                        money.to_major(p.amount, p.currency),
                        p.currency.upper(),
                        str(p.public_id).replace("-", "")[:30],
                        _safe_cell(f"Affiliate commissions from {merchant.name}"[:165]),
                        "PayPal",
                    ]
                )
        return
    yield writer.writerow(
        [
            "payout_id",
            "affiliate_code",
            "affiliate_name",
            "affiliate_email",
            "amount",
            "currency",
            "payout_method",
            "paypal_email",
            "bank_details",
            "status",
            "reference",
            "paid_at",
        ]
    )
    for p in payouts:
        a = p.affiliate
        yield writer.writerow(
            [
                p.public_id,
                _safe_cell(a.code),
                _safe_cell(a.name),
                _safe_cell(a.email),
                money.to_major(p.amount, p.currency),
                p.currency.upper(),
                a.payout_method,
                _safe_cell(a.paypal_email),
                _safe_cell(a.bank_details),
                p.status,
                _safe_cell(p.reference),
                p.paid_at.isoformat() if p.paid_at else "",
            ]
        )
