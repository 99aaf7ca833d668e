"""Request helpers the dashboard's pages share: pagination, the period and program filters, going back."""

import uuid

from django.core.paginator import Paginator
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme

from . import periods, selectors

PAGE_SIZE = 50


def paginate(request, queryset, per_page: int = PAGE_SIZE):
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


def period_of(request):
    return periods.parse_period(request.GET, first_day=periods.first_day(request.merchant))


def redirect_back(request, fallback: str):
    """Back to the page the form was on (same site only), else `fallback`."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(fallback)


def program_of(request):
    """(the program of `?program=`, or None; the text given): an unknown id filters everything out."""
    code = request.GET.get("program", "").strip()
    return selectors.program_filter(request.merchant, code), code


def is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
