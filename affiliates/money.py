"""Money: integer amounts in a currency's minor unit, never floats.

Stripe writes amounts in the smallest unit of the currency: cents for USD,
yen for JPY (zero-decimal), fils for KWD (three decimals).
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# https://docs.stripe.com/currencies#zero-decimal and #three-decimal
ZERO_DECIMAL = {
    "bif",
    "clp",
    "djf",
    "gnf",
    "jpy",
    "kmf",
    "krw",
    "mga",
    "pyg",
    "rwf",
    "ugx",
    "vnd",
    "vuv",
    "xaf",
    "xof",
    "xpf",
}
THREE_DECIMAL = {"bhd", "jod", "kwd", "omr", "tnd"}
SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "cad": "CA$", "aud": "A$", "inr": "₹", "chf": "CHF "}


def exponent(currency: str) -> int:
    currency = currency.lower()
    if currency in ZERO_DECIMAL:
        return 0
    if currency in THREE_DECIMAL:
        return 3
    return 2


def percent_of(amount: int, bps: int) -> int:
    """`amount * bps / 10000`, rounded half-up to the minor unit, in integers only."""
    if amount < 0:
        return -percent_of(-amount, bps)
    return (amount * bps * 2 + 10000) // 20000


def proportion(amount: int, part: int, whole: int) -> int:
    """`amount * part / whole`, rounded half-up, in integers only; 0 when whole is 0."""
    if whole <= 0 or part <= 0:
        return 0
    return (amount * part * 2 + whole) // (whole * 2)


def format_money(amount: int, currency: str) -> str:
    """1234, "usd" → "$12.34"; 1234, "jpy" → "¥1,234"; 1234, "kwd" → "1.234 KWD"."""
    exp = exponent(currency)
    value = Decimal(amount).scaleb(-exp)
    text = f"{value:,.{exp}f}"
    symbol = SYMBOLS.get(currency.lower())
    if symbol:
        return f"-{symbol}{text[1:]}" if text.startswith("-") else f"{symbol}{text}"
    return f"{text} {currency.upper()}"


def to_major(amount: int, currency: str) -> str:
    """1234, "usd" → "12.34" (for CSV exports and form fields)."""
    exp = exponent(currency)
    return f"{Decimal(amount).scaleb(-exp):.{exp}f}"


def parse_major(text: str, currency: str) -> int:
    """ "12.34", "usd" → 1234. Raises ValueError on more decimals than the currency has."""
    exp = exponent(currency)
    try:
        value = Decimal(str(text).strip().replace(",", ""))
    except InvalidOperation as exc:
        raise ValueError(f"{text!r} is not an amount") from exc
    minor = value.scaleb(exp)
    if minor != minor.to_integral_value():
        raise ValueError(f"{currency.upper()} has {exp} decimal places")
    return int(minor.quantize(Decimal(1), rounding=ROUND_HALF_UP))
