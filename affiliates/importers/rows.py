"""What every platform's export becomes, and the cell readers the platforms share.

Each platform module (rewardful.py, firstpromoter.py, tolt.py) names the columns it reads and how its statuses map
onto ours; `parse.read_rows` turns a CSV file into one `ImportRow` per line with a `Platform`. A line may name an
affiliate only, or an affiliate and one referred customer, or an affiliate and one commission (or all three): the
same affiliate on many lines is one affiliate (plan.py merges them).
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.dateparse import parse_date, parse_datetime

from ..models import CODE_PATTERN, ImportPlatform

# The parameters t.js reads an affiliate code from (tracker/src/t.js, affiliates/links.py).
TRACKED_PARAMETERS = ("ref", "via", "aff", "fpr")
MAX_AMOUNT = 10**12
MAX_ID_LENGTH = 200  # a commission's source id is "<platform>:<id>", at most 255 characters
# A value a spreadsheet would run as a formula once the PayPal CSV is opened (affiliates.services).
FORMULA_PREFIXES = ("=", "+", "-", "@")
_CODE_RE = re.compile(CODE_PATTERN)
_CUSTOMER_RE = re.compile(r"^cus_[A-Za-z0-9]{1,250}$")
_CURRENCY_RE = re.compile(r"^[A-Za-z]{3}$")
_SEPARATORS = re.compile(r"\s*[,;|]\s*")  # between codes or links in one cell
_LINK_SEPARATORS = re.compile(r"[\s,;|]+")


class CellError(ValueError):
    """One cell that cannot be imported; the message names the value and says why."""


@dataclass(frozen=True)
class ImportedCommission:
    external_id: str  # the platform's id for the commission
    amount: int  # minor units
    currency: str  # lower-case ISO code; "" when the export names none (the program's currency is used)
    status: str  # Commission.Status.PENDING or APPROVED: only unpaid commissions are imported
    sale_amount: int = 0  # the payment it was earned on, minor units, when the export has it
    earned_at: datetime | None = None
    due_at: datetime | None = None  # when the platform would have approved it


@dataclass(frozen=True)
class ImportRow:
    line: int
    external_id: str = ""  # the platform's id for the affiliate
    email: str = ""  # trimmed and lower-case
    name: str = ""
    codes: tuple[str, ...] = ()  # the codes the affiliate's links carry there, in the export's order
    paypal_email: str = ""
    status: str = ""  # an Affiliate.Status, "" when the export says nothing
    customer: str = ""  # a referred customer's Stripe id
    customer_email: str = ""
    commission: ImportedCommission | None = None


@dataclass(frozen=True)
class Problem:
    line: int  # 0 for the file as a whole
    message: str


@dataclass(frozen=True)
class Platform:
    """How one platform's export reads: for each of our fields, the column names it may have (compared after
    `column_key`, the first present wins), and what its statuses mean here. A commission status in `not_imported`
    (paid or void there) is left out, with that reason."""

    key: str  # an ImportPlatform value
    parameter: str  # the link parameter its links carry
    columns: dict[str, tuple[str, ...]]
    affiliate_statuses: dict[str, str]
    # Its commission statuses: ours ("pending", "approved"), or why such a commission is left out (paid there).
    commission_statuses: dict[str, str]
    not_imported: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return ImportPlatform(self.key).label


@dataclass
class Parsed:
    platform: Platform
    rows: list[ImportRow]
    errors: list[Problem]
    skipped: list[Problem]
    ignored_columns: list[str]


def column_key(header: str) -> str:
    """ "Stripe Customer ID", "payout_details.email" -> "stripe_customer_id", "payout_details_email"."""
    return re.sub(r"[^a-z0-9]+", "_", header.strip().lower()).strip("_")


def identifier(value: str, *, what: str) -> str:
    """The platform's id for an affiliate or a commission (UUIDs, numbers, prefixed ids such as part_...)."""
    value = value.strip()
    if len(value) > MAX_ID_LENGTH:
        raise CellError(f"the {what} {value[:20]!r}... is longer than {MAX_ID_LENGTH} characters")
    return value


def email(value: str, *, what: str = "email") -> str:
    value = value.strip().lower()
    if not value:
        return ""
    try:
        validate_email(value)
    except ValidationError:
        raise CellError(f"the {what} {value!r} is not an email address") from None
    return value


def paypal_email(value: str) -> str:
    value = email(value, what="PayPal email")
    if value[:1] in FORMULA_PREFIXES:
        raise CellError(f"the PayPal email {value!r} starts with {value[0]!r}, which spreadsheets run as a formula")
    return value


def codes(value: str) -> tuple[str, ...]:
    """One or more codes (separated by commas, semicolons or |), each of the affiliate code pattern."""
    found = tuple(code for code in _SEPARATORS.split(value.strip()) if code)
    for code in found:
        if not _CODE_RE.match(code):
            raise CellError(
                f"the code {code!r} is not 1 to 64 letters, digits, '-' or '_', so no link here can carry it"
            )
    return found


def codes_in_links(value: str, parameter: str) -> tuple[str, ...]:
    """The codes in referral links ("https://shop.example/?via=maya"): the value of the tracked parameter each has."""
    found: list[str] = []
    for link in _LINK_SEPARATORS.split(value.strip()):
        if not link:
            continue
        match = re.search(r"[?&](" + "|".join(TRACKED_PARAMETERS) + r")=([^&#]*)", link)
        if match is None:
            raise CellError(f"the link {link!r} has no ?{parameter}= (nor ?ref=, ?via=, ?aff=, ?fpr=) parameter")
        found += codes(match.group(2))
    return tuple(found)


def link_parameter(value: str) -> str:
    parameter = value.strip().lower()
    if parameter and parameter not in TRACKED_PARAMETERS:
        raise CellError(
            f"links with ?{parameter}= cannot be tracked here: the script reads "
            + ", ".join(f"?{p}=" for p in TRACKED_PARAMETERS)
        )
    return parameter


def customer(value: str) -> str:
    value = value.strip()
    if value and not _CUSTOMER_RE.match(value):
        raise CellError(f"the customer {value!r} is not a Stripe customer id (cus_...)")
    return value


def amount(value: str, *, what: str) -> int:
    """An amount in the currency's minor unit ("3000" for $30.00), as the platforms' APIs give them."""
    value = value.strip().replace("_", "")
    if not value.isdigit():
        hint = " (give it in cents, as the export has it: 3000 for 30.00)" if re.fullmatch(r"\d*\.\d+", value) else ""
        raise CellError(f"the {what} {value!r} is not a whole number of the currency's minor unit{hint}")
    number = int(value)
    if number > MAX_AMOUNT:
        raise CellError(f"the {what} {value!r} is too large")
    return number


def currency(value: str) -> str:
    value = value.strip()
    if value and not _CURRENCY_RE.match(value):
        raise CellError(f"the currency {value!r} is not a three-letter ISO code")
    return value.lower()


def moment(value: str, *, what: str) -> datetime | None:
    """An ISO 8601 date or date and time; UTC unless it says otherwise."""
    value = value.strip()
    if not value:
        return None
    try:
        parsed = parse_datetime(value)
        if parsed is None:
            day = parse_date(value)
            parsed = datetime.combine(day, time()) if day else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise CellError(f"the {what} {value!r} is not an ISO 8601 date (2025-01-31 or 2025-01-31T12:00:00Z)")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def status(value: str, statuses: dict[str, str], *, what: str) -> str | None:
    """Ours for the platform's status (lower-cased); None for an empty cell."""
    key = value.strip().lower()
    if not key:
        return None
    if key not in statuses:
        raise CellError(f"the {what} {value.strip()!r} is not one of: {', '.join(statuses)}")
    return statuses[key]
