import stripe
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .drainers import request_drain_on_commit
from .services import UnreadableEvent, read_event, store_event


@csrf_exempt
@require_POST
def webhook(request: HttpRequest) -> HttpResponse:
    """Stripe's Connect webhook: check the signature on the raw body, store the event, answer; a task does the work."""
    signature = request.headers.get("Stripe-Signature") or ""
    if not signature.isascii():  # Stripe signs in hex; the library's comparison raises on anything else
        return HttpResponseBadRequest("Invalid signature: the header is not ASCII.", content_type="text/plain")
    try:
        stripe.WebhookSignature.verify_header(
            request.body,
            signature,
            settings.STRIPE_WEBHOOK_SECRET,
            settings.STRIPE_WEBHOOK_TOLERANCE,
        )
    except stripe.SignatureVerificationError as exc:
        return HttpResponseBadRequest(f"Invalid signature: {exc.user_message or exc}", content_type="text/plain")
    except ValueError:  # a body that is not UTF-8
        return HttpResponseBadRequest("The body is not UTF-8 JSON.", content_type="text/plain")
    try:
        payload, raw = read_event(request.body)
    except UnreadableEvent as exc:
        return HttpResponseBadRequest(str(exc), content_type="text/plain")
    event = store_event(payload, raw=raw)
    if event is not None and event.merchant_id:
        request_drain_on_commit()
    return HttpResponse(status=200)
