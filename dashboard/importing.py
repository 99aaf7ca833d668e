"""Affiliates → Import: upload another platform's CSV export, see what importing it would change, then confirm.

The upload is kept in the cache (Redis, shared by every web process) for an hour under a random token that only the
preview's confirm form carries, for the merchant and user who uploaded it; confirming re-reads it and imports it
with affiliates.importers, which plans again against the data as it is by then. Owners and admins only.
"""

import secrets

import redis
from django.contrib import messages
from django.core.cache import cache
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from affiliates import importers
from affiliates.importers.plan import summary
from tenants.access import merchant_required

from .forms import ImportAffiliatesForm

STAGED_SECONDS = 3600
TEMPLATE = "affiliates/affiliate_import.html"


def _key(request, token: str) -> str:
    return f"afficone:import:{request.merchant.pk}:{request.user.pk}:{token}"


@merchant_required(manage=True)
def affiliate_import(request):
    form = ImportAffiliatesForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        platform, data = form.cleaned_data["platform"], form.cleaned_data["file"].read()
        try:
            parsed = importers.read_csv(platform, data)
        except importers.ImportFileError as exc:
            form.add_error("file", str(exc))
        else:
            report = importers.import_rows(request.merchant, parsed, dry_run=True)
            token = secrets.token_urlsafe(16)
            try:
                cache.set(_key(request, token), {"platform": platform, "data": data}, STAGED_SECONDS)
            except redis.RedisError:
                form.add_error(None, "The upload could not be kept for confirming (the cache is unreachable): retry.")
            else:
                return render(request, TEMPLATE, _context(form, report, token, form.cleaned_data["file"].name))
    return render(request, TEMPLATE, {"form": form}, status=400 if form.errors else 200)


@merchant_required(manage=True)
@require_POST
def affiliate_import_confirm(request):
    token = request.POST.get("token", "")
    try:
        staged = cache.get(_key(request, token)) if token else None
    except redis.RedisError:
        staged = None
    if staged is None:
        messages.error(request, "That upload has expired or was imported already: upload the file again.")
        return redirect("affiliates:affiliate_import")
    report = importers.import_rows(request.merchant, importers.read_csv(staged["platform"], staged["data"]))
    if report.errors:
        messages.error(request, "Something changed since the preview, and nothing was imported: see the errors.")
        context = _context(ImportAffiliatesForm(), report, token, request.POST.get("name", ""))
        return render(request, TEMPLATE, context, status=409)
    cache.delete(_key(request, token))
    label = report.platform.label
    if report.applied:
        messages.success(request, f"Imported from {label}: {summary(report)}.")
    else:
        messages.info(request, f"Nothing to import from {label}: everything in the file is here already.")
    return redirect("affiliates:affiliate_list")


def _context(form, report, token: str, name: str) -> dict:
    return {"form": form, "report": report, "token": token, "name": name, "summary": summary(report)}
