"""Certificate status: revocation and its publication, the OCSP responder with the node's
OCSP index file, the CRL publisher, and the feed that carries status changes between
processes (`publication.py` starts and stops them together)."""
