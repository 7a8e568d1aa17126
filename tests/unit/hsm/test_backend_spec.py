"""BackendSpec: where the secret comes from, and that it never travels with the spec."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from hsm.backend import HSMError, KeyAlgorithm
from hsm.backend_spec import BackendSpec
from hsm.software import SoftwareBackend
from tests.unit.hsm.conftest import PASSPHRASE


def test_environment_is_read_before_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_file = tmp_path / "pin"
    secret_file.write_text("from-file\n")
    spec = BackendSpec(kind="soft", key_dir="/k", secret_env="T_PIN", secret_file=str(secret_file))
    monkeypatch.setenv("T_PIN", "from-env\n")
    assert spec.read_secret() == "from-env"
    monkeypatch.delenv("T_PIN")
    assert spec.read_secret() == "from-file"


def test_missing_secret_names_its_sources_but_no_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("T_PIN", raising=False)
    spec = BackendSpec(
        kind="pkcs11",
        module_path="/m.so",
        token_label="t",
        secret_env="T_PIN",
        secret_file=str(tmp_path / "absent"),
    )
    with pytest.raises(HSMError, match="T_PIN") as caught:
        spec.read_secret()
    assert str(tmp_path / "absent") in str(caught.value)


def test_empty_file_is_no_secret(tmp_path: Path) -> None:
    (tmp_path / "pin").write_text("\n")
    spec = BackendSpec(kind="soft", key_dir="/k", secret_file=str(tmp_path / "pin"))
    with pytest.raises(HSMError, match="is empty"):
        spec.read_secret()


def test_spec_pickles_and_serialises_without_the_secret(
    soft_spec: BackendSpec, key_dir: Path
) -> None:
    assert pickle.loads(pickle.dumps(soft_spec)) == soft_spec
    assert BackendSpec.from_json(soft_spec.to_json()) == soft_spec
    assert PASSPHRASE not in soft_spec.to_json()
    assert PASSPHRASE not in repr(soft_spec)


def test_open_soft_backend_signs(soft_spec: BackendSpec) -> None:
    backend = soft_spec.open()
    assert isinstance(backend, SoftwareBackend)
    key = backend.generate_key("ca", KeyAlgorithm.EC_P256)
    assert len(backend.sign_many(key, [b"a", b"b"])) == 2
    backend.close()


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "cloud", "key_dir": "/k", "secret_env": "X"},
        {"kind": "soft", "secret_env": "X"},
        {"kind": "pkcs11", "token_label": "t", "secret_env": "X"},
        {"kind": "soft", "key_dir": "/k"},
    ],
)
def test_incomplete_specs_are_refused(fields: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="backend spec"):
        BackendSpec(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["", "[]", '{"kind": "soft", "pin": "1"}', "{"])
def test_bad_json_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="backend spec"):
        BackendSpec.from_json(text)
