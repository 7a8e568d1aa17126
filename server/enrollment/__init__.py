"""Enrollment shared by EST and CMP: one-time enrollment credentials, enrollment with them
or with a held certificate (`enroll.py`), and server-generated keys delivered encrypted."""
