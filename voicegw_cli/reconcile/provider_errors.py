"""A provider's error response saved where the export should be: quote what it said.

`curl ... > usage.json` with a wrong key, a missing scope or a gateway hiccup leaves the
provider's error body in the file. Read as an export it is only "not a format voicegw
knows"; the provider's own message is what tells the user what to fix, so it is quoted
(exit 3, naming the file). Shapes, from the providers' published schemas:

* OpenAI (openai-openapi `ErrorResponse`): `{"error": {"message", "type", "param", "code"}}`
  — the same shape OpenAI-compatible APIs (Groq...) answer with;
* Anthropic (`ErrorResponse` in the SDKs): `{"type": "error", "error": {"type",
  "message"}, "request_id"}`;
* Deepgram: `{"err_code", "err_msg", "request_id"}`, or `{"category", "message",
  "details"}` (its errors page);
* ElevenLabs: `{"detail": {"status", "message"}}`, `{"detail": "text"}`, or FastAPI's
  validation list `{"detail": [{"loc", "msg", "type"}]}` (`HttpValidationError`);
* Cartesia (`Cartesia-Version` 2026-03-01 on): `{"error_code", "title", "message",
  "request_id"}`;
* an HTML page (a proxy's or gateway's 502/503) instead of JSON or CSV.
"""

from __future__ import annotations

import html
import re
from typing import Any

#: provider id -> how the provider writes its name
VENDORS = {
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "deepgram": "Deepgram",
    "elevenlabs": "ElevenLabs",
    "cartesia": "Cartesia",
    "groq": "Groq",
    "assemblyai": "AssemblyAI",
    "livekit": "LiveKit",
}
_HINT = "an error response was saved instead of the export; fix the request and fetch it again"
_MAX = 300


def _clean(text: Any) -> str:
    one = " ".join(str(text).split())
    return one if len(one) <= _MAX else one[: _MAX - 1] + "…"


def _said(vendor: str, message: Any, code: Any = None) -> str:
    tail = f" ({_clean(code)})" if code not in (None, "") else ""
    return f"{vendor} said: {_clean(message)}{tail} — {_HINT}"


def json_error(doc: Any, provider: str) -> str | None:
    """The quoted provider message when `doc` is an error body, else None."""
    if not isinstance(doc, dict) or "data" in doc or "results" in doc:
        return None
    err = doc.get("error")
    if doc.get("type") == "error" and isinstance(err, dict):
        return _said("Anthropic", err.get("message", ""), err.get("type"))
    if isinstance(err, dict) and "message" in err:
        vendor = VENDORS.get(provider, provider or "the provider")
        return _said(vendor, err.get("message"), err.get("code") or err.get("type"))
    if "err_code" in doc or "err_msg" in doc:
        return _said("Deepgram", doc.get("err_msg") or doc.get("err_code"), doc.get("err_code"))
    if "error_code" in doc and "message" in doc:
        title = doc.get("title")
        message = f"{title}: {doc['message']}" if title else doc["message"]
        return _said("Cartesia", message, doc.get("error_code"))
    if "category" in doc and "message" in doc and len(doc) <= 4:
        return _said("Deepgram", doc["message"], doc["category"])
    if "detail" in doc and len(doc) <= 2:
        return _elevenlabs(doc["detail"])
    if isinstance(err, str) and len(doc) <= 3:
        vendor = VENDORS.get(provider, provider or "the provider")
        return _said(vendor, doc.get("message") or err, err if doc.get("message") else None)
    return None


def _elevenlabs(detail: Any) -> str:
    if isinstance(detail, dict):
        return _said("ElevenLabs", detail.get("message") or detail, detail.get("status"))
    if isinstance(detail, list):
        parts = []
        for d in detail:
            if isinstance(d, dict):
                loc = ".".join(str(x) for x in d.get("loc") or [])
                parts.append(f"{loc}: {d.get('msg')}" if loc else str(d.get("msg")))
        return _said("ElevenLabs", "; ".join(parts) or detail, "validation error")
    return _said("ElevenLabs", detail)


_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_H1 = re.compile(r"<h1[^>]*>(.*?)</h1>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


def html_error(text: str) -> str | None:
    """`an HTML page, not an export: "502 Bad Gateway"` for a saved error page."""
    head = text.lstrip()[:200].lower()
    if not (head.startswith("<!doctype html") or head.startswith("<html") or "<html" in head):
        return None
    found = _TITLE.search(text) or _H1.search(text)
    title = _clean(html.unescape(_TAG.sub("", found.group(1)))) if found else ""
    what = f': "{title}"' if title else ""
    return (
        f"an HTML page, not an export{what} — the request failed (a gateway or login page "
        "was saved); fetch the export again"
    )
