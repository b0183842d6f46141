"""The OpenAPI 3.1 document served at ``/openapi.json``, generated from :mod:`relay.routes`."""

from __future__ import annotations

import functools
import re
from typing import Any

ERROR = {
    "type": "object",
    "properties": {"error": {"type": "object", "required": ["code", "message"],
                             "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}},
}


@functools.cache
def openapi_document() -> dict[str, Any]:
    from relay.routes import ROUTES

    paths: dict[str, Any] = {}
    for route in ROUTES:
        op: dict[str, Any] = {
            "summary": route.summary,
            "operationId": f"{route.method.lower()}_{route.handler.__name__}",
            "responses": {
                "200": {"description": "OK"},
                "4XX": {"description": "Client error", "content": {"application/json": {"schema": ERROR}}},
            },
        }
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{(\w+)}", route.path)
        ]
        params += [{"name": q, "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0}}
                   for q in route.query]
        if route.raw_body:
            params.append({"name": "X-Cove-Sha256", "in": "header", "required": True, "schema": {"type": "string"}})
            op["requestBody"] = {"required": True,
                                 "content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                      "format": "binary"}}}}
        if params:
            op["parameters"] = params
        if route.body is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": route.body}}}
        if route.auth != "none":
            op["security"] = [{"bearer": []}]
            op["x-cove-token"] = route.auth
        paths.setdefault(route.path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Cove relay", "version": "1",
                 "description": "See docs/relay-api.md for the protocol, signatures and error codes."},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": ERROR,
                "LogEntry": {
                    "type": "object",
                    "required": ["folder", "device", "seq", "prev", "format", "blocks", "ciphertext", "signature"],
                    "properties": {
                        "folder": {"type": "string"}, "device": {"type": "string"},
                        "seq": {"type": "integer", "minimum": 1}, "prev": {"type": "string"},
                        "format": {"type": "integer"}, "blocks": {"type": "array", "items": {"type": "string"}},
                        "ciphertext": {"type": "string", "format": "byte"},
                        "signature": {"type": "string", "format": "byte"},
                    },
                },
                "MembershipChange": {
                    "type": "object",
                    "required": ["folder", "id", "op", "member", "role", "signer", "epoch", "issued_at", "signature"],
                    "properties": {
                        "folder": {"type": "string"}, "id": {"type": "string"},
                        "op": {"enum": ["create", "add", "set_role", "remove"]},
                        "member": {"type": "string"}, "role": {"enum": ["owner", "editor", "viewer", None]},
                        "signer": {"type": "string"}, "epoch": {"type": "integer"},
                        "issued_at": {"type": "integer"}, "signature": {"type": "string", "format": "byte"},
                    },
                },
            },
        },
    }
