"""A platform's CSV export, read into ImportRows: one per line, with each bad line's number and reason.

Nothing here reads the database: plan.py matches the rows against the merchant's affiliates.
"""

import csv
import dataclasses
import io

from . import rows
from .rows import CellError, ImportedCommission, ImportRow, Parsed, Platform, Problem

MAX_ROWS = 20_000
MAX_BYTES = 10 * 1024 * 1024
# The columns that tell which affiliate a line is about: at least one must be in the file.
AFFILIATE_KEYS = ("external_id", "email")


class ImportFileError(ValueError):
    """The file as a whole cannot be read (not UTF-8, too large)."""


def decode(data: bytes) -> str:
    if len(data) > MAX_BYTES:
        raise ImportFileError(
            f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB: split it and import each part."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError("The file is not UTF-8 text: export it again as CSV (UTF-8).") from None


def read_rows(platform: Platform, text: str) -> Parsed:
    parsed = Parsed(platform=platform, rows=[], errors=[], skipped=[], ignored_columns=[])
    sample = text[:4096]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        parsed.errors.append(Problem(1, f"the header cannot be read as CSV ({exc})"))
        return parsed
    if not header or not any(cell.strip() for cell in header):
        parsed.errors.append(Problem(0, "The file is empty: it needs a header line and one line per affiliate."))
        return parsed
    positions = _positions(platform, header, parsed)
    if not any(name in positions for name in AFFILIATE_KEYS):
        names = [*platform.columns["external_id"][:1], *platform.columns["email"][:1]]
        parsed.errors.append(
            Problem(
                1,
                f"no column names the affiliate: a {platform.label} export has {' or '.join(names)} "
                f"(the columns are: {', '.join(cell.strip() for cell in header)})",
            )
        )
        return parsed
    line = 1
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            parsed.errors.append(Problem(start, f"the line cannot be read as CSV ({exc})"))
            break
        line = start
        if not any(cell.strip() for cell in cells):
            continue
        if len(parsed.rows) + len(parsed.errors) >= MAX_ROWS:
            parsed.errors.append(Problem(line, f"the file has more than {MAX_ROWS} lines: split it"))
            break
        values = {name: cells[index] if index < len(cells) else "" for name, index in positions.items()}
        try:
            row = _row(platform, line, values, parsed)
        except CellError as exc:
            parsed.errors.append(Problem(line, str(exc)))
            continue
        if row is not None:
            parsed.rows.append(row)
    return parsed


def _positions(platform: Platform, header: list[str], parsed: Parsed) -> dict[str, int]:
    """Our field -> the index of the first column naming it; the columns nothing reads go to `ignored_columns`."""
    keys = [rows.column_key(cell) for cell in header]
    positions: dict[str, int] = {}
    used: set[int] = set()
    for name, aliases in platform.columns.items():
        for alias in aliases:
            if alias in keys:
                positions[name] = keys.index(alias)
                used.add(positions[name])
                break
    parsed.ignored_columns = [cell.strip() for i, cell in enumerate(header) if i not in used and cell.strip()]
    return positions


def _row(platform: Platform, line: int, values: dict[str, str], parsed: Parsed) -> ImportRow | None:
    def get(name: str) -> str:
        return values.get(name, "").strip()

    external_id, email = rows.identifier(get("external_id"), what="affiliate id"), rows.email(get("email"))
    if not external_id and not email:
        raise CellError("no affiliate id or email on this line")
    name = get("name") or " ".join(part for part in (get("first_name"), get("last_name")) if part)
    codes = rows.codes(get("codes")) + rows.codes_in_links(get("links"), platform.parameter)
    rows.link_parameter(get("link_parameter"))
    payout_method = get("payout_method").lower()
    # A payout address belongs to its method: only PayPal's is a PayPal email.
    paypal = rows.paypal_email(get("paypal_email")) if payout_method in ("", "paypal") else ""
    status = rows.status(get("status"), platform.affiliate_statuses, what="status") or ""
    row = ImportRow(
        line=line,
        external_id=external_id,
        email=email,
        name=name[:200],
        codes=codes,
        paypal_email=paypal,
        status=status,
        customer=rows.customer(get("customer")),
        customer_email=rows.email(get("customer_email"), what="customer email"),
    )
    commission = _commission(platform, line, get, parsed)
    if commission is not None:
        row = dataclasses.replace(row, commission=commission)
    return row


def _commission(platform: Platform, line: int, get, parsed: Parsed) -> ImportedCommission | None:
    fields = ("commission_id", "commission_amount", "commission_status", "commission_currency")
    if not any(get(name) for name in fields):
        return None
    external_id = rows.identifier(get("commission_id"), what="commission id")
    if not external_id:
        raise CellError("a commission without its id (needed so that it is never imported twice)")
    raw_status = get("commission_status").lower()
    if raw_status in platform.not_imported:
        parsed.skipped.append(Problem(line, f"commission {external_id}: {platform.not_imported[raw_status]}"))
        return None
    unit = get("reward_unit").lower()
    if unit and unit != "cash":
        parsed.skipped.append(Problem(line, f"commission {external_id}: a reward in {unit}, not money"))
        return None
    status = rows.status(raw_status, platform.commission_statuses, what="commission status")
    if status is None:
        raise CellError(f"commission {external_id} has no status")
    if not get("commission_amount"):
        raise CellError(f"commission {external_id} has no amount")
    return ImportedCommission(
        external_id=external_id,
        amount=rows.amount(get("commission_amount"), what="commission amount"),
        currency=rows.currency(get("commission_currency")),
        status=status,
        sale_amount=rows.amount(get("sale_amount") or "0", what="sale amount"),
        earned_at=rows.moment(get("commission_earned_at"), what="commission date"),
        due_at=rows.moment(get("commission_due_at"), what="due date"),
    )
