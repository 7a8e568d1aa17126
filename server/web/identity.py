"""The HTTPS listener's identity as the web handlers find it: it signs what the server
itself signs for EST, its encrypted server-generated keys (RFC 7030 4.4.2). Absent when
HTTPS is off. CMP signs with its own protection certificate (server/cmp/identity.py)."""

from __future__ import annotations

from aiohttp import web

from server.node.tls import ServerIdentity

SERVER_IDENTITY_KEY = web.AppKey("server_identity", ServerIdentity)
