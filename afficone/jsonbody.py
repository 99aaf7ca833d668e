"""Parsing request bodies as JSON, where nesting too deep for the parser is bad input, not a crash.

Python's decoder raises RecursionError on nesting about a thousand levels deep; every endpoint that reads JSON
from outside (the tracker's, Stripe's webhook, the REST API) goes through here so that such a body answers 400.
"""

import json
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class JSONBodyError(ValueError):
    """The body is not JSON this application can read."""


def loads(data: str | bytes) -> Any:
    try:
        return json.loads(data)
    except RecursionError as exc:
        raise JSONBodyError("JSON is nested too deeply.") from exc
    except ValueError as exc:  # not JSON, not UTF-8, or an integer longer than Python converts (4,300 digits)
        raise JSONBodyError(f"Invalid JSON: {exc}") from exc


class SafeJSONParser(JSONParser):
    """DRF's JSON parser, answering 400 (not 500) to nesting the decoder cannot follow."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply.") from exc
