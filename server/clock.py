"""The CA's clock: what every service is given to tell the time, so that tests can set it.

A `Clock` is any callable returning an aware UTC datetime; `utc_now` is the real one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Now, in whole seconds (every time the CA writes is); the same object within a
    second, as the OCSP listener asks for it on every live answer."""
    global _now_second, _now
    second = int(time.time())
    if second != _now_second:
        _now_second, _now = second, datetime.fromtimestamp(second, UTC)
    return _now


_now_second = -1  # the second utc_now last made a datetime for
_now = datetime.fromtimestamp(0, UTC)
