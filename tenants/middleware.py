from django.utils.functional import SimpleLazyObject

from .access import current_membership


class CurrentMerchantMiddleware:
    """Sets `request.membership` and `request.merchant` for a logged-in team member.

    The merchant is the one chosen in the session (a user in several tenants
    can switch), else the user's first membership. None for anyone else.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = SimpleLazyObject(lambda: current_membership(request))
        request.merchant = SimpleLazyObject(lambda: request.membership.merchant if request.membership else None)
        return self.get_response(request)
