"""Errors the services raise; the message is shown to the user."""


class AffiliateError(ValueError):
    """A request that cannot be carried out; the message is shown to the user.

    `field` names the input at fault where there is one (e.g. "rules[1].commission.bps"), and `code` says why in a
    word; the API answers them as its error's `field` and `code`."""

    def __init__(self, message: str = "", *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.field = field
        self.code = code
