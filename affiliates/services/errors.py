"""Errors the services raise; the message is shown to the user."""


class AffiliateError(ValueError):
    """A request that cannot be carried out; the message is shown to the user."""
