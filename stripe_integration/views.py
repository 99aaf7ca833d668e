import stripe
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from afficone.jsonbody import JSONBodyError, loads

from .drainers import request_drain_on_commit
from .services import store_event


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
        # Plain JSON, not the library's StripeObject: the event is stored as Stripe sent it (the text itself).
        raw = request.body.decode()
        payload = loads(raw)
    except UnicodeDecodeError:
        return HttpResponseBadRequest("The body is not JSON.", content_type="text/plain")
    except JSONBodyError as exc:  # nesting too deep for the decoder included
        return HttpResponseBadRequest(f"The body cannot be read as JSON: {exc}", content_type="text/plain")
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("id"), str)
        or not isinstance(payload.get("type"), str)
    ):
        return HttpResponseBadRequest(
            "The body is not a Stripe event (id and type are required).", content_type="text/plain"
        )
    event = store_event(payload, raw=raw)
    if event is not None and event.merchant_id:
        request_drain_on_commit()
    return HttpResponse(status=200)
