"""Access helpers: the one way a view gets at the current tenant.

`merchant_required` lets only team members of a merchant in, and sets
`request.merchant`; every tenant-owned row is then fetched with
`Model.objects.for_merchant(request.merchant)`.
"""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect

from .models import Membership

SESSION_KEY = "merchant_id"


def current_membership(request) -> Membership | None:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    memberships = Membership.objects.filter(user=user).select_related("merchant").order_by("created_at", "pk")
    chosen = request.session.get(SESSION_KEY)
    if chosen is not None:
        membership = memberships.filter(merchant_id=chosen).first()
        if membership is not None:
            return membership
    return memberships.first()


def switch_merchant(request, merchant_id: int) -> bool:
    """Makes `merchant_id` the current tenant if the user is a member of it."""
    if not Membership.objects.filter(user=request.user, merchant_id=merchant_id).exists():
        return False
    request.session[SESSION_KEY] = merchant_id
    return True


def merchant_required(view=None, *, manage: bool = False):
    """Logged in and a member of a merchant; `manage=True` also needs owner or admin."""

    def decorator(view_func):
        @wraps(view_func)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if request.membership is None:
                # A user with no merchant (e.g. an affiliate only) has no dashboard.
                return redirect("tenants:no_merchant")
            if manage and not request.membership.can_manage:
                raise PermissionDenied("Only owners and admins can do this.")
            return view_func(request, *args, **kwargs)

        return wrapper

    return decorator(view) if view is not None else decorator
