"""The CMP server (RFC 4210 / RFC 9810, Lightweight CMP Profile RFC 9483): `server.py` is
its entry point, the CMPServer; the other modules are the parts it asks."""
