"""The OpenAPI 3.1 document of /api/v1/, built from the route tables and the JSON Schemas
(draft 2020-12, as OpenAPI 3.1 uses) of every request and response body below.

A new body is a schema in `SCHEMAS`, named by its route's `body` or `responses`. Response
objects list every field (`required`: they are always present, null where empty); request
objects refuse unknown fields and use only the keywords `common.check` enforces.
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus

from aiohttp import web

from protocols.crl import CRLReason
from server.accounts import Role
from server.confirmation.cases import MAX_FILE_NAME, MAX_QUESTIONS, MAX_SUBMITTER, STATES
from server.confirmation.expert_report import FIELDS, TIMES
from server.errors import ErrorKind
from server.ra.applications import RECEIVERS
from server.ra.subscribers import DocumentType, Presence, SubscriberKind
from server.registry import CertificateStatus, StatusBasis, StatusChangeKind
from server.web.api.common import (
    JSON_CT,
    PREFIX,
    PUBLIC,
    Call,
    Route,
    Schema,
    json_response,
    unsupported_keywords,
)

TITLE = "CA operator and public API"
VERSION = "1"


def _object(properties: dict[str, Schema], required: Sequence[str] | None = None) -> Schema:
    """An object of exactly these properties; all required unless told otherwise."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(properties if required is None else required),
        "properties": properties,
    }


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _list(key: str, item: str, cursor: Schema | None = None) -> Schema:
    properties: dict[str, Schema] = {key: {"type": "array", "items": _ref(item)}}
    if cursor is not None:
        properties["next"] = {
            **cursor,
            "description": "`after` of the next page; null on the last page",
        }
    return _object(properties)


def _text(max_length: int, min_length: int = 1) -> Schema:
    return {"type": "string", "minLength": min_length, "maxLength": max_length}


TIME: Schema = {"type": "string", "format": "date-time"}
TIME_OR_NULL: Schema = {"type": ["string", "null"], "format": "date-time"}
TEXT_OR_NULL: Schema = {"type": ["string", "null"]}
SERIAL: Schema = {"type": "string", "pattern": "^[0-9a-f]{1,40}$"}
SERIAL_OR_NULL: Schema = {"type": ["string", "null"], "pattern": "^[0-9a-f]{1,40}$"}
HEX_SHA256: Schema = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
STATUS: Schema = {"type": "string", "enum": [s.value for s in CertificateStatus]}
ROLE: Schema = {"type": "string", "enum": [r.value for r in Role]}
REVOCATION_REASONS = [
    r.name for r in CRLReason if r not in (CRLReason.certificateHold, CRLReason.removeFromCRL)
]
INVALIDITY = "when the key is known or suspected to have been compromised (RFC 5280 5.3.2)"
GROUNDS: Schema = {
    **_text(1000),
    "description": "what the change rests on: the holder's application, the compromise report, ...",
}
BASIS: Schema = {
    "type": "string",
    "enum": [b.value for b in StatusBasis],
    "description": "the holder asked, or the CA decided on its own (R8)",
}

_PUBLIC_CERTIFICATE: dict[str, Schema] = {
    "serial": SERIAL,
    "status": STATUS,
    "not_before": TIME,
    "not_after": TIME,
    "subject": {"type": "string", "description": "the subject DN, RFC 4514 order"},
    "issuer_generation": {
        "type": ["integer", "null"],
        "description": "the CA generation that issued it; null for a self-signed CA certificate",
    },
    "pem": {"type": "string"},
}
_CERTIFICATE: dict[str, Schema] = {
    **_PUBLIC_CERTIFICATE,
    "subject": {
        "type": "string",
        "description": "the subject DN, RFC 4514 order; a natural person's identifiers (SNILS,"
        " INN, OGRNIP, names, e-mail, street) are *** for a role that may not read personal"
        " data (the auditor)",
    },
    "pem": {"type": ["string", "null"], "description": "null for the auditor"},
    "profile": {"type": "string"},
    "spki_sha256": HEX_SHA256,
    "created_at": TIME,
    "subscriber_id": {"type": ["string", "null"], "description": "the registered holder"},
}

_ALT_NAMES: dict[str, Schema] = {
    "dns": {"type": "array", "items": _text(253), "maxItems": 100},
    "ip": {"type": "array", "items": _text(45), "maxItems": 100},
    "email": {"type": "array", "items": _text(254), "maxItems": 100},
}
_VALID_HOURS: Schema = {
    "type": "number",
    "minimum": 0.1,
    "maximum": 8760,
    "description": "default 72",
}
DATE: Schema = {"type": "string", "format": "date"}
DATE_OR_NULL: Schema = {"type": ["string", "null"], "format": "date"}
FOR_STAFF = "for a role that may not read personal data (the auditor)"

_SUBSCRIBER_FIELDS: dict[str, Schema] = {
    "kind": {"type": "string", "enum": [k.value for k in SubscriberKind]},
    "name": {**_text(256), "description": "a legal entity's name; a person's: surname given_names"},
    "surname": _text(128),
    "given_names": _text(128),
    "email": _text(128),
    "snils": {**_text(32), "description": "11 digits, separators allowed (112-233-445 95)"},
    "inn": {**_text(32), "description": "a person's 12 digits, a legal entity's 10"},
    "ogrn": {**_text(32), "description": "a legal entity's 13 digits"},
    "ogrnip": {**_text(32), "description": "a sole proprietor's 15 digits"},
    "country": {**_text(2, 2), "description": "ISO 3166 two-letter code, default RU"},
    "region": _text(128),
    "locality": _text(128),
    "street": _text(256),
}
_SUBSCRIBER: dict[str, Schema] = {
    "id": {"type": "string"},
    "kind": _SUBSCRIBER_FIELDS["kind"],
    "name": {"type": "string"},
    **{
        name: TEXT_OR_NULL
        for name in ("surname", "given_names", "email", "snils", "inn", "ogrn", "ogrnip")
    },
    "country": {"type": "string"},
    "region": TEXT_OR_NULL,
    "locality": TEXT_OR_NULL,
    "street": TEXT_OR_NULL,
    "registered_by": {"type": "string"},
    "registered_at": TIME,
    "erased_at": {**TIME_OR_NULL, "description": "when retention erased its personal data"},
}

_KIND: Schema = {"type": "string", "enum": ["signature", "certificate"]}
_FILE: Schema = {
    "type": "string",
    "format": "binary",
    "description": f"a file part; its file name at most {MAX_FILE_NAME} characters",
}

SCHEMAS: dict[str, Schema] = {
    "Error": _object(
        {
            "error": {"type": "string", "enum": [kind.value for kind in ErrorKind]},
            "message": {"type": "string"},
        }
    ),
    "OpenAPIDocument": {"type": "object", "required": ["openapi", "info", "paths"]},
    # public
    "PublicCertificate": _object(_PUBLIC_CERTIFICATE),
    "PublicCertificateList": _list("certificates", "PublicCertificate"),
    "RevokedCertificate": _object(
        {
            "serial": SERIAL,
            "status": {"type": "string", "enum": ["revoked", "hold"]},
            "revoked_at": TIME,
            "reason": {**TEXT_OR_NULL, "description": "RFC 5280 5.3.1 reason name"},
        }
    ),
    "RevokedList": _list("revoked", "RevokedCertificate", SERIAL_OR_NULL),
    # certificates
    "Certificate": _object(_CERTIFICATE),
    "StatusChange": _object(
        {
            "change": {"type": "string", "enum": [k.value for k in StatusChangeKind]},
            "reason": TEXT_OR_NULL,
            "effective_at": TIME,
            "invalidity_date": TIME_OR_NULL,
            "actor": {"type": "string"},
            "basis": {"type": ["string", "null"], "enum": [*(b.value for b in StatusBasis), None]},
            "grounds": TEXT_OR_NULL,
        }
    ),
    "CertificateDetail": _object(
        {
            **_CERTIFICATE,
            "history": {"type": "array", "items": _ref("StatusChange")},
        }
    ),
    "CertificateList": _list("certificates", "Certificate", SERIAL_OR_NULL),
    "RevokeRequest": _object(
        {
            "reason": {"type": "string", "enum": REVOCATION_REASONS},
            "invalidity_date": {**TIME, "description": INVALIDITY},
            "basis": BASIS,
            "grounds": GROUNDS,
        },
        required=["reason", "grounds"],
    ),
    "StatusRequest": _object({"basis": BASIS, "grounds": GROUNDS}, required=["grounds"]),
    # the CA key compromise procedure (K4)
    "CompromiseRequest": _object(
        {"grounds": {**_text(1000), "description": "the compromise report, the finding, ..."}}
    ),
    "Compromise": _object(
        {
            "compromised_generation": {"type": "integer"},
            "new_generation": {"type": "integer"},
            "ca_certificate": {**SERIAL, "description": "the new generation's"},
            "revoked_ca_certificates": {
                "type": "array",
                "items": SERIAL,
                "description": "the old CA certificate and its links, listed with reason "
                "cACompromise in the new generation's CRLs",
            },
            "certificates": {
                "type": "string",
                "enum": ["revoke", "mark"],
                "description": "what became of the old generation's certificates "
                "(ca.compromise_certificates)",
            },
            "certificates_count": {"type": "integer"},
        }
    ),
    # applications
    "Application": _object(
        {
            "id": {"type": "string"},
            "profile": {"type": "string"},
            "subject": {
                "type": "string",
                "description": f"the subject DN; a person's identifiers are *** {FOR_STAFF}",
            },
            "state": {"type": "string"},
            "submitted_by": {"type": "string"},
            "submitted_at": TIME,
            "decided_by": TEXT_OR_NULL,
            "decided_at": TIME_OR_NULL,
            "reason": TEXT_OR_NULL,
            "serial": SERIAL_OR_NULL,
            "subscriber_id": TEXT_OR_NULL,
            "due_at": TIME_OR_NULL,
            "complete_at": {
                **TIME_OR_NULL,
                "description": "when every document was in (the due date counts from it)",
            },
            "register_check": {
                "type": "string",
                "description": "what the state registers answered (R2)",
            },
            "attachments": {"type": "array", "items": _ref("Attachment")},
            "attachments_removed_at": {
                **TIME_OR_NULL,
                "description": "when retention removed the attachment records",
            },
            "received_by": {"type": ["string", "null"], "enum": [*RECEIVERS, None]},
            "received_proxy": {
                **TEXT_OR_NULL,
                "description": f"the proxy's name; null {FOR_STAFF}",
            },
            "received_poa": {
                **TEXT_OR_NULL,
                "description": f"the power of attorney; null {FOR_STAFF}",
            },
            "received_at": TIME_OR_NULL,
        }
    ),
    "Attachment": _object({"name": {"type": "string"}, "sha256": HEX_SHA256}),
    "ApplicationList": _list("applications", "Application"),
    "ApplicationRequest": _object(
        {
            "subscriber_id": _text(64),
            "profile": _text(64),
            "attachments": {
                "type": "array",
                "maxItems": 100,
                "items": _object(
                    {
                        "name": _text(256),
                        "sha256": {**_text(64, 64), "description": "64 hexadecimal digits"},
                    }
                ),
            },
            "csr": {**_text(20000), "description": "the holder's PKCS#10 request, PEM"},
            "complete": {
                "type": "boolean",
                "description": "every document is in (default true); false: the due date"
                " starts with /complete",
            },
        },
        required=["subscriber_id", "profile"],
    ),
    "HandoverRequest": _object(
        {
            "received_by": {"type": "string", "enum": list(RECEIVERS)},
            "proxy_name": _text(256),
            "power_of_attorney": {**_text(256), "description": "its number and date"},
        },
        required=["received_by"],
    ),
    "Approval": _object(
        {
            "application": _ref("Application"),
            "serial": {**SERIAL_OR_NULL, "description": "the certificate issued, if any"},
            "credential": {
                "oneOf": [{"type": "null"}, _ref("ApprovalCredential")],
                "description": "for an application without a request: what its holder"
                " enrolls with; the secret is shown this once",
            },
        }
    ),
    "ApprovalCredential": _object(
        {"id": {"type": "string"}, "secret": {"type": "string"}, "expires_at": TIME}
    ),
    "RejectRequest": _object({"reason": _text(1000)}),
    # confirmation cases (8.2, V3)
    "ConfirmationRequest": _object(
        {
            "signature": {**_FILE, "description": "the CMS/PKCS#7 signature (S10)"},
            "document": {**_FILE, "description": "the signed document, for a detached signature"},
            "certificate": {**_FILE, "description": "the certificate to confirm (S11), DER or PEM"},
            "submitter": {**_text(MAX_SUBMITTER), "description": "who asks (U7)"},
            "questions": {**_text(MAX_QUESTIONS), "description": "what the expert is to answer"},
        },
        required=["submitter", "questions"],
    ),
    "ConfirmationCheck": {
        "type": "object",
        "description": "the automatic check's report: its verdict, every cause of a no,"
        " and the facts checked (further members)",
        "required": ["kind", "verdict", "checked_at", "causes"],
        "properties": {
            "kind": _KIND,
            "verdict": {"type": "string", "enum": ["valid", "invalid", "indeterminate"]},
            "checked_at": {"type": "string"},
            "causes": {
                "type": "array",
                "items": _object({"code": {"type": "string"}, "text": {"type": "string"}}),
            },
        },
    },
    "ConfirmationFile": _object(
        {
            "role": {"type": "string", "enum": ["document", "signature", "certificate"]},
            "name": {"type": "string", "description": "as the submitter named it"},
            "size": {"type": "integer"},
            "sha256": HEX_SHA256,
        }
    ),
    "ConfirmationCase": _object(
        {
            "id": {"type": "string"},
            "kind": _KIND,
            "state": {"type": "string", "enum": list(STATES)},
            "submitter": {"type": "string"},
            "questions": {"type": "string"},
            "received_by": {"type": "string"},
            "received_at": TIME,
            "due_at": {**TIME, "description": "confirmation.due_working_days working days on"},
            "overdue": {"type": "boolean", "description": "unanswered past its due date"},
            "files_until": {**TIME, "description": "the files are kept until then"},
            "files": {"type": "array", "items": _ref("ConfirmationFile")},
            "check": _ref("ConfirmationCheck"),
            "expert": {**TEXT_OR_NULL, "description": "the assigned expert's account"},
            "assigned_by": TEXT_OR_NULL,
            "assigned_at": TIME_OR_NULL,
            "answered_at": TIME_OR_NULL,
        }
    ),
    "ConfirmationCaseList": _list("cases", "ConfirmationCase"),
    "ConfirmationRegistered": _object(
        {"case": _ref("ConfirmationCase"), "check": _ref("ConfirmationCheck")}
    ),
    "AssignRequest": _object({"expert": {**_text(64), "description": "an expert's account"}}),
    "ExpertReportRequest": _object(
        {
            name: {**_text(longest), "description": "RFC 3339, with a zone"}
            if name in TIMES
            else _text(longest)
            for name, longest in FIELDS.items()
        }
    ),
    "ExpertReport": _object(
        {
            "case": {"type": "string"},
            "kind": _KIND,
            "answered_at": TIME,
            "time_and_place": _object(
                {"started_at": TIME, "finished_at": TIME, "place": {"type": "string"}}
            ),
            "grounds": {"type": "string"},
            "expert": _object(
                {
                    "account": {"type": "string"},
                    "name": {"type": "string"},
                    "position": {"type": "string"},
                }
            ),
            "submitter": {"type": "string"},
            "received_at": TIME,
            "questions": {"type": "string"},
            "objects": {"type": "array", "items": _ref("ConfirmationFile")},
            "methods": {"type": "string"},
            "results": _object(
                {"findings": {"type": "string"}, "automatic_check": _ref("ConfirmationCheck")}
            ),
            "conclusion": {"type": "string"},
        }
    ),
    "ConfirmationAnswer": _object(
        {"case": _ref("ConfirmationCase"), "report": _ref("ExpertReport")}
    ),
    # enrollment credentials
    "CredentialRequest": _object(
        {
            "profile": _text(64),
            "subject": _text(1024),
            "valid_hours": _VALID_HOURS,
            **_ALT_NAMES,
        },
        required=["profile", "subject"],
    ),
    "Credential": _object(
        {
            "id": {"type": "string"},
            "secret": {"type": "string", "description": "shown this once, never again"},
            "profile": {"type": "string"},
            "subject": {"type": "string"},
            "expires_at": TIME,
        }
    ),
    # subscribers (personal data: the operator and the officer only)
    "Subscriber": _object(_SUBSCRIBER),
    "SubscriberList": _list("subscribers", "Subscriber", TEXT_OR_NULL),
    "SubscriberRequest": _object(_SUBSCRIBER_FIELDS, required=["kind"]),
    "IdentityRecord": _object(
        {
            "id": {"type": "string"},
            "subscriber_id": {"type": "string"},
            "document_type": {"type": "string", "enum": [d.value for d in DocumentType]},
            "document_number": {"type": "string"},
            "document_issuer": {"type": "string"},
            "document_date": DATE,
            "presence": {"type": "string", "enum": [p.value for p in Presence]},
            "proxy_name": TEXT_OR_NULL,
            "poa_number": TEXT_OR_NULL,
            "poa_date": DATE_OR_NULL,
            "verified_by": {"type": "string"},
            "verified_at": TIME,
        }
    ),
    "IdentityRequest": _object(
        {
            "document_type": {"type": "string", "enum": [d.value for d in DocumentType]},
            "document_number": _text(64),
            "document_issuer": _text(256),
            "document_date": {**DATE, "description": "YYYY-MM-DD"},
            "presence": {
                "type": "string",
                "enum": [p.value for p in Presence],
                "description": "default in_person; a proxy needs proxy_name, poa_number and"
                " poa_date",
            },
            "proxy_name": _text(256),
            "poa_number": {**_text(64), "description": "the power of attorney's number"},
            "poa_date": {**DATE, "description": "YYYY-MM-DD"},
        },
        required=["document_type", "document_number", "document_issuer", "document_date"],
    ),
    "SubscriberDetail": _object(
        {
            **_SUBSCRIBER,
            "identities": {"type": "array", "items": _ref("IdentityRecord")},
            "notice_version": {"type": "string", "description": "the current conditions notice"},
            "notice_acknowledged_at": TIME_OR_NULL,
            "ready": {
                "type": "boolean",
                "description": "identity established and notice acknowledged: a certificate"
                " may be issued",
            },
            "not_ready_reason": TEXT_OR_NULL,
        }
    ),
    "NoticeAcknowledgement": _object(
        {"subscriber_id": {"type": "string"}, "notice_version": {"type": "string"}}
    ),
    "SubscriberCredentialRequest": _object(
        {"profile": _text(64), "valid_hours": _VALID_HOURS, **_ALT_NAMES}, required=["profile"]
    ),
    # accounts
    "Account": _object(
        {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "role": ROLE,
            "created_at": TIME,
            "created_by": {"type": "string"},
            "has_token": {"type": "boolean"},
            "certificate_sha256": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
            "disabled_at": TIME_OR_NULL,
        }
    ),
    "AccountList": _list("accounts", "Account"),
    "AccountRequest": _object({"name": _text(64), "role": ROLE}),
    "AccountCreated": _object({"account": _ref("Account"), "token": {"type": "string"}}),
    "Token": _object({"name": {"type": "string"}, "token": {"type": "string"}}),
    "CertificateBinding": _object(
        {"certificate": {**_text(20000), "description": "a TLS client certificate, PEM"}}
    ),
    # audit
    "AuditEntry": _object(
        {
            "seq": {"type": "integer"},
            "at": TIME,
            "actor": {"type": "string"},
            "action": {"type": "string"},
            "target": {"type": "string"},
            "details": {"type": "object"},
        }
    ),
    "AuditList": _list("entries", "AuditEntry", {"type": ["integer", "null"]}),
    "AuditReport": _object(
        {
            "entries": {"type": "integer"},
            "intact": {"type": "boolean"},
            "first_broken_seq": {"type": ["integer", "null"]},
            "problem": {
                **TEXT_OR_NULL,
                "description": "the first broken, missing or altered entry or forged checkpoint",
            },
            "checkpoint": {
                "type": ["object", "null"],
                "description": "the newest signed checkpoint: the trail is intact up to it",
                "required": ["number", "at", "seq"],
                "additionalProperties": False,
                "properties": {
                    "number": {"type": "integer"},
                    "at": {"type": "string"},
                    "seq": {"type": "integer"},
                },
            },
            "unanchored": {
                "type": "integer",
                "description": "entries after the newest checkpoint: not provably complete",
            },
        }
    ),
}


def _responses(route: Route) -> dict[str, Schema]:
    statuses = dict(route.responses)
    if route.roles:
        statuses.update({401: "Error", 403: "Error"})
    responses: dict[str, Schema] = {}
    for status, body in sorted(statuses.items()):
        media, schema = (body, {"type": "string"}) if "/" in body else (JSON_CT, _ref(body))
        responses[str(status)] = {
            "description": HTTPStatus(status).phrase,
            "content": {media: {"schema": schema}},
        }
    responses["default"] = {
        "description": "internal error, or busy / unavailable (503)",
        "content": {JSON_CT: {"schema": _ref("Error")}},
    }
    return responses


def _operation(route: Route) -> Schema:
    operation: Schema = {
        "operationId": f"{route.handler.__module__.rpartition('.')[2]}.{route.handler.__name__}",
        "summary": route.summary,
        "tags": [route.path.split("/")[1]],
        "responses": _responses(route),
    }
    if route.roles:
        operation["security"] = [{"bearer": []}, {"clientCertificate": []}]
        operation["x-roles"] = sorted(role.value for role in route.roles)
    else:
        operation["security"] = []
    if route.params:
        operation["parameters"] = [
            {
                "name": p.name,
                "in": p.where,
                "required": p.where == "path" or p.required,
                "schema": p.schema,
            }
            | ({"description": p.description} if p.description else {})
            for p in route.params
        ]
    if route.body is not None:
        schema = SCHEMAS[route.body]
        unsupported = unsupported_keywords(schema)
        if unsupported:
            raise ValueError(f"{route.body} uses unenforced keywords {sorted(unsupported)}")
        operation["requestBody"] = {
            "required": True,
            "content": {route.body_media: {"schema": _ref(route.body)}},
        }
    return operation


def build_document(routes: Sequence[Route]) -> Schema:
    """The document of these routes. Raises ValueError for a route naming an unknown
    schema or a request schema that `common.check` would not wholly enforce."""
    paths: dict[str, Schema] = {}
    for route in routes:
        named = [route.body] if route.body else []
        named += [body for body in route.responses.values() if "/" not in body]
        for name in named:
            if name not in SCHEMAS:
                raise ValueError(f"{route.method} {route.path}: no schema {name!r}")
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION},
        "servers": [{"url": PREFIX}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "clientCertificate": {"type": "mutualTLS"},
            },
        },
    }


def document_route(routes: Sequence[Route]) -> Route:
    """GET /openapi.json: the document of `routes` and of itself."""

    async def openapi(call: Call) -> web.Response:
        return json_response(document)  # built below, before any request

    route = Route(
        "GET", "/openapi.json", openapi, PUBLIC, "this document", {200: "OpenAPIDocument"}
    )
    document = build_document([*routes, route])
    return route
