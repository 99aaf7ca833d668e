from .access import current_membership


class CurrentMerchantMiddleware:
    """Sets `request.membership` and `request.merchant` for a logged-in team member.

    The merchant is the one chosen in the session (a user in several tenants
    can switch), else the user's first membership. None for anyone else.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # Evaluated here, not lazily: a lazy wrapper around None is never `is None`, so checks like
        # `request.merchant is None` would silently pass. Anonymous requests cost no query.
        request.membership = current_membership(request)
        request.merchant = request.membership.merchant if request.membership is not None else None
        return self.get_response(request)
