"""Calls to /api/v1/ whose every answer is checked against the OpenAPI document the server
serves: the path, method and status must be declared, the media type too, and a JSON body
must be valid under the declared schema (JSON Schema draft 2020-12, `$ref`s into the
document's components resolved through a `referencing` registry)."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

PREFIX = "/api/v1"
_URN = "urn:api-document"


def _pointer_part(text: str) -> str:
    return text.replace("~", "~0").replace("/", "~1")


class Document:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self._registry: Registry = Registry().with_resource(_URN, resource)
        # A concrete path matches a template; the one with most literal text wins
        # ("/x/{serial}.der" over "/x/{serial}").
        self._templates = sorted(
            document["paths"], key=lambda t: len(re.sub(r"\{[^}]+\}", "", t)), reverse=True
        )

    def template(self, path: str) -> str:
        for template in self._templates:
            pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
            if re.fullmatch(pattern, path):
                return template
        raise AssertionError(f"{path} is not in the OpenAPI document")

    def check(self, method: str, path: str, status: int, media_type: str, body: bytes) -> Any:
        """The answer's body (parsed when JSON), or an AssertionError saying what the
        document does not allow."""
        template = self.template(path)
        operation = self.document["paths"][template].get(method.lower())
        assert operation is not None, f"{method} {template} is not in the document"
        responses = operation["responses"]
        key = str(status) if str(status) in responses else "default"
        assert key in responses and (key != "default" or status >= 500), (
            f"{method} {template} does not declare status {status}"
        )
        content = responses[key]["content"]
        assert media_type in content, f"{method} {template} {status}: {media_type} not declared"
        if media_type != "application/json":
            return body
        data = json.loads(body)
        pointer = "/".join(
            ["", "paths", _pointer_part(template), method.lower(), "responses", key, "content",
             _pointer_part(media_type), "schema"]
        )  # fmt: skip
        validator = Draft202012Validator({"$ref": f"{_URN}#{pointer}"}, registry=self._registry)
        errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
        assert not errors, f"{method} {template} {status}: " + "; ".join(
            f"{list(e.path)}: {e.message}" for e in errors
        )
        return data


class API:
    """An aiohttp test client speaking to /api/v1/, checking every answer."""

    def __init__(self, client: TestClient, document: Document) -> None:
        self.client = client
        self.document = document

    async def call(
        self,
        method: str,
        path: str,
        status: int,
        *,
        token: str | None = None,
        body: object = None,
        data: bytes | None = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """The checked answer to `method PREFIX+path`; it must have `status`. `body` is
        sent as JSON, `data` as it is."""
        headers = dict(headers or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        response = await self.client.request(
            method,
            PREFIX + path,
            json=body,
            data=data,
            params=params,
            headers=headers,
        )
        raw = await response.read()
        assert response.status == status, f"{method} {path}: {response.status} {raw[:400]!r}"
        self.last_headers = response.headers
        return self.document.check(method, path, status, response.content_type, raw)
