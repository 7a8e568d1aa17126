"""The CA's key generations (regulations K1-K4, D10): the first made at `init`
(`ca_certificate.py`), each generation's OCSP responder (`responder.py`), the rollover of a
self-signed CA with link certificates (`rollover.py`) and its compromise
(`compromise.py`), and a CA under a parent outside: its request and the parent's
certificate (`parent.py`), its rollover by a request (`subordinate_rollover.py`) and its
compromise reported to the parent (`subordinate_compromise.py`). A root kept in the home
above the issuing CA is server/hierarchy/."""
