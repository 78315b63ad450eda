"""The OpenAPI 3.1 document, built from `api.ENDPOINTS` (one table for routes and docs).

Routes the table does not declare (the dashboard's HTML pages, /static) are listed too,
as HTML, so every route the app serves appears in the document.
"""

from __future__ import annotations

from typing import Any

from voicegw_cli import __version__

_ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
            "required": ["code", "message"],
        }
    },
    "required": ["error"],
}
_REASONS = {
    400: "Bad input (VALIDATION_ERROR, ...)",
    401: "No or wrong token",
    403: "The read token on a write",
    404: "Unknown project or record",
    409: "Exists already, read-only, or CONFIRMATION_REQUIRED",
    422: "An uploaded file cannot be read (INPUT_ERROR)",
    503: "The store is busy (STORE_BUSY)",
}


def _operation(e: Any) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": e.summary,
        "operationId": f"{e.method.lower()}_{e.handler.__name__}",
        "parameters": [
            {
                "name": p.name,
                "in": p.where,
                "required": p.required,
                "description": p.description,
                "schema": {"type": p.type, **({"enum": list(p.enum)} if p.enum else {})},
            }
            for p in e.params
        ],
        "responses": {
            "201" if e.method == "POST" and e.path == "/v1/projects" else "200": {
                "description": "OK" + (f" (the body of `voicegw {e.cli}`)" if e.cli else ""),
                "content": {e.media: {"schema": e.response}},
            },
        },
    }
    if e.cli:
        op["x-voicegw-cli"] = f"voicegw {e.cli}"
    if e.body is not None:
        media = e.body.get("x-media", "application/json")
        schema = {k: v for k, v in e.body.items() if k != "x-media"}
        op["requestBody"] = {"required": True, "content": {media: {"schema": schema}}}
    codes = set(e.errors) | ({401, 503} if e.auth else set()) | ({403} if e.write else set())
    for code in sorted(codes):
        op["responses"][str(code)] = {
            "description": _REASONS.get(code, "Error"),
            "content": {"application/json": {"schema": _ERROR}},
        }
    if e.auth:
        op["security"] = [{"bearer": []}, {"cookie": []}]
    else:
        op["security"] = []
    return op


def document(app: Any = None) -> dict[str, Any]:
    from voicegw_cli.server.api import ENDPOINTS

    paths: dict[str, dict[str, Any]] = {}
    for e in ENDPOINTS:
        paths.setdefault(e.path, {})[e.method.lower()] = _operation(e)
    declared = set(paths)
    for route in getattr(app, "routes", []) if app is not None else []:
        path = getattr(route, "path", None)
        if not path or path in declared:
            continue
        methods = sorted(getattr(route, "methods", None) or {"GET"})
        entry: dict[str, Any] = {}
        for m in methods:
            if m == "HEAD":
                continue
            entry[m.lower()] = {
                "summary": f"Dashboard: {getattr(route, 'name', path)}",
                "responses": {"200": {"description": "HTML", "content": {"text/html": {}}}},
            }
        if not getattr(route, "methods", None):  # a mount (static files)
            path = path.rstrip("/") + "/{path}"
            entry = {
                "get": {
                    "summary": "Static files (CSS, JavaScript) shipped in the package",
                    "parameters": [
                        {
                            "name": "path",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {"200": {"description": "A file"}},
                    "security": [],
                }
            }
        paths.setdefault(path, {}).update(entry)  # GET and POST may be two routes
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "voicegw API",
            "version": __version__,
            "description": "What every LiveKit voice-agent call cost. Bodies equal the "
            "matching CLI command's --format json output; money is an exact decimal "
            "string; lists carry rows and next_cursor.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "voicegw_token"},
            },
            "schemas": {"Error": _ERROR},
        },
    }
