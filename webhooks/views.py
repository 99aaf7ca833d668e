"""Settings → Webhooks: the merchant's endpoints, their deliveries and every attempt's answer.

Every row is fetched through `Model.objects.for_merchant(request.merchant)`
behind `merchant_required(manage=True)`; another merchant's id answers 404.
A secret is shown once, right after it is made (creation or rotation),
through the session, as API keys are.
"""

import uuid

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from tenants.access import merchant_required

from . import forms, services
from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .sending import pretty

NEW_SECRET_SESSION_KEY = "new_webhook_secret"
DELIVERIES_SHOWN = 50


def _endpoints(request):
    return WebhookEndpoint.objects.for_merchant(request.merchant)


def _show_secret_once(request, endpoint: WebhookEndpoint):
    request.session[NEW_SECRET_SESSION_KEY] = str(endpoint.public_id)
    return redirect("webhooks:endpoint_secret", code=endpoint.public_id)


@merchant_required(manage=True)
@require_http_methods(["GET", "POST"])
def endpoints(request):
    form = forms.EndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        endpoint = services.create_endpoint(request.merchant, **form.cleaned_data)
        return _show_secret_once(request, endpoint)
    context = {"form": form, "endpoints": _endpoints(request).order_by("-created_at")}
    return render(request, "webhooks/endpoints.html", context, status=400 if form.errors else 200)


@never_cache
@merchant_required(manage=True)
def endpoint_secret(request, code):
    endpoint = get_object_or_404(_endpoints(request), public_id=code)
    if request.session.pop(NEW_SECRET_SESSION_KEY, None) != str(endpoint.public_id):
        messages.info(request, "A signing secret is shown once, when it is made. If it is lost, rotate it.")
        return redirect("webhooks:endpoint", code=endpoint.public_id)
    return render(request, "webhooks/endpoint_secret.html", {"endpoint": endpoint})


@merchant_required(manage=True)
@require_http_methods(["GET", "POST"])
def endpoint(request, code):
    endpoint = get_object_or_404(_endpoints(request), public_id=code)
    initial = {"url": endpoint.url, "events": endpoint.events}
    form = forms.EndpointForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        services.update_endpoint(endpoint, **form.cleaned_data)
        messages.success(request, "Endpoint saved. Deliveries not yet sent go to its new address.")
        return redirect("webhooks:endpoint", code=endpoint.public_id)
    deliveries = (
        WebhookDelivery.objects.for_merchant(request.merchant)
        .filter(endpoint=endpoint)
        .select_related("event")
        .order_by("-created_at", "-pk")[:DELIVERIES_SHOWN]
    )
    failed = WebhookDelivery.objects.for_merchant(request.merchant).filter(endpoint=endpoint, status="failed")
    context = {
        "endpoint": endpoint,
        "form": form,
        "deliveries": deliveries,
        "shown": DELIVERIES_SHOWN,
        "failed_count": failed.count(),
    }
    return render(request, "webhooks/endpoint.html", context, status=400 if form.errors else 200)


@merchant_required(manage=True)
@require_POST
def toggle_endpoint(request, code):
    endpoint = get_object_or_404(_endpoints(request), public_id=code)
    status = WebhookEndpoint.Status.DISABLED if endpoint.is_enabled else WebhookEndpoint.Status.ENABLED
    endpoint = services.update_endpoint(endpoint, status=status)
    messages.success(request, f"{endpoint.url} is {endpoint.get_status_display().lower()}.")
    return redirect("webhooks:endpoint", code=endpoint.public_id)


@merchant_required(manage=True)
@require_POST
def rotate_secret(request, code):
    endpoint = services.rotate_secret(get_object_or_404(_endpoints(request), public_id=code))
    return _show_secret_once(request, endpoint)


@merchant_required(manage=True)
@require_POST
def delete_endpoint(request, code):
    endpoint = get_object_or_404(_endpoints(request), public_id=code)
    services.delete_endpoint(endpoint)
    messages.success(request, f"{endpoint.url} is deleted; it is sent nothing more.")
    return redirect("webhooks:endpoints")


def _delivery(request, code) -> WebhookDelivery:
    return get_object_or_404(
        WebhookDelivery.objects.for_merchant(request.merchant).select_related("event", "endpoint"), public_id=code
    )


@merchant_required(manage=True)
def delivery(request, code):
    delivery = _delivery(request, code)
    attempts = WebhookAttempt.objects.for_merchant(request.merchant).filter(delivery=delivery).order_by("-number")
    context = {"delivery": delivery, "attempts": attempts, "body": pretty(delivery.event.body)}
    return render(request, "webhooks/delivery.html", context)


@merchant_required(manage=True)
@require_POST
def resend_delivery(request, code):
    delivery = _delivery(request, code)
    try:
        services.resend_delivery(delivery)
    except services.WebhookError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"{delivery.event.type} is being sent again to {delivery.endpoint.url}.")
    return redirect("webhooks:delivery", code=delivery.public_id)


def _selected(request, endpoint: WebhookEndpoint):
    ids = []
    for value in request.POST.getlist("deliveries"):
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            continue  # not one of ours: nothing to resend
    return WebhookDelivery.objects.for_merchant(request.merchant).filter(endpoint=endpoint, public_id__in=ids)


@merchant_required(manage=True)
@require_POST
def resend_deliveries(request, code):
    """Resend all failed (`scope=failed`), or the deliveries ticked on the endpoint's page (`scope=selected`)."""
    endpoint = get_object_or_404(_endpoints(request), public_id=code)
    selected = _selected(request, endpoint) if request.POST.get("scope") == "selected" else None
    try:
        count = services.resend_deliveries(endpoint, deliveries=selected)
    except services.WebhookError as error:
        messages.error(request, str(error))
    else:
        if count:
            messages.success(request, f"{count} {'delivery is' if count == 1 else 'deliveries are'} being sent again.")
        elif selected is not None:
            messages.info(request, "Nothing to resend: tick deliveries that have not succeeded.")
        else:
            messages.info(request, "Nothing to resend: no delivery has failed.")
    return redirect("webhooks:endpoint", code=endpoint.public_id)


@merchant_required(manage=True)
@require_POST
def send_test_event(request, code):
    endpoint = get_object_or_404(_endpoints(request), public_id=code)
    delivery = services.send_test_event(endpoint)
    messages.success(request, f"A {delivery.event.type} event is on its way to {endpoint.url}.")
    return redirect("webhooks:delivery", code=delivery.public_id)
