"""Enrollment shared by EST and CMP: one-time enrollment credentials, enrollment with them
or with a held certificate (`enroll.py`), server-generated keys delivered encrypted, and
the CA certificates a client trusts, across key rollovers (`root_distribution.py`)."""
