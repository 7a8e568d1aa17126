"""The GOST R 34.10-2012 parameter sets are named in four layers, which must agree: the
binding's OIDs (hsm/gost_engine.py), the codecs' table (protocols/gost.py), the backend's
key algorithms (hsm/backend.py) and the settings' (config/settings.py)."""

from __future__ import annotations

from config.settings import GOST_KEY_ALGORITHMS
from hsm import gost_engine
from hsm.backend import KeyAlgorithm
from protocols import gost


def test_every_layer_names_the_same_parameter_sets_with_the_same_oids() -> None:
    codec = {(p.key_size, p.engine_name): p.oid for p in gost.PARAMETER_SETS}
    assert codec == gost_engine.PARAMSET_OIDS
    names = {f"gost2012-{bits}-{name.lower()}" for bits, name in gost_engine.PARAMSET_OIDS}
    assert names == {a.value for a in KeyAlgorithm if a.is_gost} == set(GOST_KEY_ALGORITHMS)
    for algorithm in (a for a in KeyAlgorithm if a.is_gost):
        assert (algorithm.gost_bits, algorithm.gost_paramset) in gost_engine.PARAMSET_OIDS
