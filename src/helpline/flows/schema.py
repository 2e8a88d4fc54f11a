"""The JSON Schema of a flow file: the shape checks, before the domain's rules (flows.checks)."""

from __future__ import annotations

from typing import Any

from helpline.domain.flows.model import FLOW_LANGUAGES, LOOKUP_TOKEN_ENV_PREFIX
from helpline.domain.flows.phrases import DEFAULT_PHRASES

ID_PATTERN = "^[A-Za-z][A-Za-z0-9_-]{0,63}$"
URL_PATTERN = "^https?://"
_ID = {"type": "string", "pattern": ID_PATTERN}

_TEXT: dict[str, Any] = {
    "type": "object",
    "description": "The same text in each language.",
    "properties": {lang: {"type": "string", "maxLength": 4000} for lang in FLOW_LANGUAGES},
    "required": list(FLOW_LANGUAGES),
    "additionalProperties": False,
}

_REASON: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 200}
_REASON_TEXT: dict[str, Any] = {
    "type": "object",
    "properties": {lang: _REASON for lang in FLOW_LANGUAGES},
    "required": list(FLOW_LANGUAGES),
    "additionalProperties": False,
}

#: Exactly one of these keys says what an option (or a collected field, or a lookup) leads to.
STEP_KEYS = ("next", "answer", "handoff", "ticket", "lookup")

_STEP_PROPERTIES: dict[str, Any] = {
    "next": {**_ID, "description": "Show this node."},
    "answer": {"type": "string", "minLength": 1, "maxLength": 120, "description": "Answer this article."},
    "handoff": {
        "type": "object",
        "properties": {
            "queue": {"type": "string", "minLength": 1, "maxLength": 120},
            "reason": {
                "description": "Why the customer is handed over, as agents and reports read it: one text, "
                "or one per language (the English one is stored and counted).",
                "anyOf": [_REASON, _REASON_TEXT],
            },
        },
        "required": ["reason"],
        "additionalProperties": False,
    },
    "ticket": {
        "type": "object",
        "properties": {
            "subject": {"type": "string", "minLength": 1, "maxLength": 200},
            "queue": {"type": "string", "minLength": 1, "maxLength": 120},
            "done": _TEXT,
        },
        "required": ["subject"],
        "additionalProperties": False,
    },
    "lookup": {"$ref": "#/$defs/lookup"},
}

_ONE_STEP: dict[str, Any] = {
    "oneOf": [{"required": [key]} for key in STEP_KEYS],
}

#: A menu tree a customer can walk; far more is a generated file, slow to check on every view.
MAX_NODES = 500

FLOW_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Helpline self-service flow",
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 120},
        "start": _ID,
        "lookups": {
            "type": "object",
            "propertyNames": _ID,
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "url": {"type": "string", "pattern": URL_PATTERN, "maxLength": 2000},
                    "token_env": {"type": "string", "pattern": f"^{LOOKUP_TOKEN_ENV_PREFIX}[A-Z0-9_]+$"},
                    "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 30},
                },
                "required": ["url"],
                "additionalProperties": False,
            },
        },
        "phrases": {
            "type": "object",
            "propertyNames": {"enum": sorted(DEFAULT_PHRASES)},
            "additionalProperties": _TEXT,
        },
        "nodes": {
            "type": "object",
            "minProperties": 1,
            "maxProperties": MAX_NODES,
            "propertyNames": _ID,
            "additionalProperties": {"$ref": "#/$defs/node"},
        },
    },
    "required": ["name", "start", "nodes"],
    "additionalProperties": False,
    "$defs": {
        "node": {
            "type": "object",
            "properties": {
                "prompt": _TEXT,
                "faq": {"type": "boolean"},
                "options": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 12,
                    "items": {"$ref": "#/$defs/option"},
                },
                "collect": {"$ref": "#/$defs/collect"},
            },
            "required": ["prompt", "options"],
            "additionalProperties": False,
        },
        "option": {
            "type": "object",
            "properties": {
                "digit": {"type": ["string", "integer"]},
                "label": _TEXT,
                **_STEP_PROPERTIES,
            },
            "required": ["digit", "label"],
            "additionalProperties": False,
            **_ONE_STEP,
        },
        "collect": {
            "type": "object",
            "properties": {
                "field": _ID,
                "kind": {"enum": ["text", "phone"]},
                "pattern": {"type": "string", "maxLength": 500},
                "invalid": _TEXT,
                **_STEP_PROPERTIES,
            },
            "required": ["field"],
            "additionalProperties": False,
            **_ONE_STEP,
        },
        "lookup": {
            "type": "object",
            "properties": {
                "name": _ID,
                "found": _TEXT,
                "missing": _TEXT,
                **_STEP_PROPERTIES,
            },
            "required": ["name", "found", "missing"],
            "additionalProperties": False,
            **_ONE_STEP,
        },
    },
}
