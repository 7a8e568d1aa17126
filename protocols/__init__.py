"""Pure codecs, no I/O (ARCHITECTURE.md, Layers).

The GOST OIDs are registered in asn1crypto's maps here, before any codec runs, so that
every module reads and writes GOST keys and signatures by the same names (protocols/gost.py).
"""

from protocols import gost as _gost  # noqa: F401  - registers the GOST names, once
