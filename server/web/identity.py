"""The HTTPS listener's identity as the web handlers find it: it signs what the server
itself signs, EST's encrypted server-generated keys (RFC 7030 4.4.2) and CMP's answers and
key packages (RFC 9483). Absent when HTTPS is off."""

from __future__ import annotations

from aiohttp import web

from server.tls import ServerIdentity

SERVER_IDENTITY_KEY = web.AppKey("server_identity", ServerIdentity)
