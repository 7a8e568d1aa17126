"""Settings: defaults load, environment overrides apply, and every mistake names its key."""

from importlib import resources
from pathlib import Path

import pytest

from config import SettingsError, load_settings
from config.settings import key_algorithm_named


@pytest.fixture
def home(tmp_path: Path) -> Path:
    source = resources.files("config") / "default.toml"
    (tmp_path / "settings.toml").write_text(source.read_text(encoding="utf-8"))
    return tmp_path


def write(home: Path, extra: str) -> None:
    with (home / "settings.toml").open("a", encoding="utf-8") as handle:
        handle.write("\n" + extra + "\n")


def test_defaults_give_a_working_demo_ca(home: Path) -> None:
    settings = load_settings(home, environ={})
    assert settings.ca.name == "demo"
    assert settings.hsm.backend == "soft"
    assert {"tls-server", "tls-client", "person", "organisation"} <= set(settings.profiles)
    assert settings.profile("person").required_attributes == ("CN", "SN", "GN", "SNILS")
    assert settings.resolve("registry.sqlite3") == home / "registry.sqlite3"


def test_rfc7030_3_2_2_rfc9483_6_1_every_shipped_profile_has_its_est_and_cmp_label(
    home: Path,
) -> None:
    """A profile is enrolled for at its label's path; one without a label could be issued
    only by the command line."""
    settings = load_settings(home, environ={})
    every = {name: name for name in settings.profiles}
    assert dict(settings.est.labels) == every
    assert dict(settings.cmp.labels) == every


def test_environment_overrides_settings(home: Path) -> None:
    settings = load_settings(
        home,
        environ={"CA_PIPELINE__MAX_BATCH": "8", "CA_SERVER__HTTP": "127.0.0.1:9000",
                 "CA_HSM_PIN": "not-a-setting"},
    )  # fmt: skip
    assert settings.pipeline.max_batch == 8
    assert settings.server.http == "127.0.0.1:9000"


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ("[bogus]\nx = 1", "bogus"),
        ("[hsm.extra]\nx = 1", "hsm.extra"),
        ("[profiles.broken]\nkey_usage = ['signing']", "profiles.broken.key_usage"),
        (
            "[profiles.broken]\nrequestable_key_usages = ['signing']",
            "profiles.broken.requestable_key_usages",
        ),
        ("[profiles.broken]\nvalidity_days = 'long'", "profiles.broken.validity_days"),
        ("[profiles.broken]\nrequired_attributes = ['SNILS']", "profiles.broken.required"),
        ("[profiles.broken]\nfavourite_colour = 'red'", "profiles.broken.favourite_colour"),
        (
            "[profiles.kc2]\nvalidity_days = 1\npolicies = ['1.2.643.100.113.2']",
            "profiles.kc2.policies",
        ),
    ],
)
def test_unknown_keys_and_bad_values_are_refused_with_the_key_named(
    home: Path, extra: str, named: str
) -> None:
    write(home, extra)
    with pytest.raises(SettingsError, match=named.replace(".", r"\.")):
        load_settings(home, environ={})


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("CA_PIPELINE__MAX_BATCH", "0", "pipeline.max_batch"),
        ("CA_PIPELINE__MAX_BATCH", "many", "pipeline.max_batch"),
        ("CA_SERVER__HTTP", "nowhere", "server.http"),
        ("CA_SERVER__HTTPS", "a..b:8443", "server.https"),  # an empty label
        ("CA_SERVER__HTTPS", "-a.example:8443", "server.https"),
        ("CA_SERVER__HTTPS", "a b:8443", "server.https"),
        ("CA_SERVER__HTTPS", f"{'a' * 64}.example:8443", "server.https"),
        ("CA_SERVER__HTTPS", "[::1:8443", "server.https"),
        ("CA_SERVER__HTTP", "127.0.0.1:0", "server.http"),
        ("CA_CA__ALGORITHM", "dsa-1024", "ca.algorithm"),
        ("CA_RA__HOLIDAYS", '["2026-13-01"]', "ra.holidays"),
        ("CA_RA__WORKING_WEEKENDS", '["5 Dec"]', "ra.working_weekends"),
        ("CA_RA__TIME_ZONE", "Mars/Olympus", "ra.time_zone"),
        ("CA_RA__DUE_WORKING_DAYS", "0", "ra.due_working_days"),
        ("CA_RA__REGISTER_CHECK", "egrul", "ra.register_check"),
        ("CA_AUDIT__CHECKPOINT_INTERVAL_SECONDS", "0", "audit.checkpoint_interval_seconds"),
        ("CA_AUDIT__CHECKPOINTS", '""', "audit.checkpoints"),
        ("CA_ENROLLMENT__INTENT_TIMEOUT_SECONDS", "5", "enrollment.intent_timeout_seconds"),
        ("CA_ENROLLMENT__SWEEP_INTERVAL_SECONDS", "0", "enrollment.sweep_interval_seconds"),
        ("CA_CMP__TRANSACTION_RETENTION_DAYS", "0", "cmp.transaction_retention_days"),
        ("CA_HSM__BACKEND", "cloud", "hsm.backend"),
        ("CA_HSM__PIN", "1234", "hsm.pin"),
        ("CA_NOSECTION__X", "1", "nosection"),
        ("CA_SUPERVISOR__RESTART_DELAY_SECONDS", "0", "supervisor.restart_delay_seconds"),
        (
            "CA_SUPERVISOR__RESTART_DELAY_MAX_SECONDS",
            "0.1",
            "supervisor.restart_delay_max_seconds",
        ),  # below the first delay
        ("CA_SUPERVISOR__DUTY_LEASE_SECONDS", "1", "supervisor.duty_lease_seconds"),
        ("CA_SUPERVISOR__DUTY_RENEW_SECONDS", "6", "supervisor.duty_renew_seconds"),  # > 15/3
        ("CA_REGISTRY__URL", "mysql://ca@db/ca", "registry.url"),
        ("CA_REGISTRY__URL", "sqlite:///", "registry.url"),
        ("CA_REGISTRY__POOL_SIZE", "0", "registry.pool_size"),
        ("CA_REGISTRY__POOL_SIZE", "101", "registry.pool_size"),
        ("CA_REGISTRY__MAX_WRITE_GROUP", "0", "registry.max_write_group"),
        ("CA_REGISTRY__MAX_WRITE_QUEUE", "0", "registry.max_write_queue"),
    ],
)
def test_bad_environment_overrides_are_refused(
    home: Path, variable: str, value: str, named: str
) -> None:
    with pytest.raises(SettingsError, match=named.replace(".", r"\.")) as caught:
        load_settings(home, environ={variable: value})
    if variable == "CA_HSM__PIN":
        assert "1234" not in str(caught.value)


@pytest.mark.parametrize(
    "value", ["127.0.0.1:8443", "[::1]:8443", "::1:8443", "ca.example:443", "localhost:1",
              "xn--80akhbyknj4f.xn--p1ai:8443", "испытание.рф:8443", "ca_1.internal:8443"],
)  # fmt: skip
def test_listening_addresses_name_a_host_and_a_port(home: Path, value: str) -> None:
    assert load_settings(home, environ={"CA_SERVER__HTTPS": value}).server.https == value


def test_missing_settings_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="init"):
        load_settings(tmp_path, environ={})


def test_the_registry_is_a_sqlite_file_in_the_home_by_default(home: Path) -> None:
    settings = load_settings(home, environ={})
    assert settings.registry_file == home / "registry.sqlite3"
    assert settings.registry_url == f"sqlite:///{home}/registry.sqlite3"  # four slashes


@pytest.mark.parametrize(
    ("url", "file"),
    [
        ("sqlite:///data/ca.sqlite3", "HOME/data/ca.sqlite3"),  # relative: to the home
        ("sqlite:////var/lib/ca/r.sqlite3", "/var/lib/ca/r.sqlite3"),  # absolute
    ],
)
def test_a_relative_sqlite_path_is_relative_to_the_home_never_the_working_directory(
    home: Path, url: str, file: str
) -> None:
    settings = load_settings(home, environ={"CA_REGISTRY__URL": url})
    expected = Path(file.replace("HOME", str(home)))
    assert settings.registry_file == expected
    assert settings.registry_url == f"sqlite:///{expected}"


@pytest.mark.parametrize(
    "url", ["postgresql://ca@db.example:5432/ca", "postgres:///ca?host=/run/postgresql"]
)
def test_a_postgresql_registry_has_no_file(home: Path, url: str) -> None:
    settings = load_settings(home, environ={"CA_REGISTRY__URL": url})
    assert settings.registry_url == url and settings.registry_file is None


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://ca:Tr0ub4dor@db.example/ca",
        "postgresql://ca@db.example/ca?password=Tr0ub4dor",
    ],
)
def test_a_registry_url_with_a_password_is_refused_without_repeating_it(
    home: Path, url: str
) -> None:
    text = (home / "settings.toml").read_text(encoding="utf-8")
    old = 'url = "sqlite:///registry.sqlite3"'
    (home / "settings.toml").write_text(text.replace(old, f'url = "{url}"'), encoding="utf-8")
    with pytest.raises(SettingsError, match=r"registry\.url: .*pgpass") as caught:
        load_settings(home, environ={})
    assert "Tr0ub4dor" not in str(caught.value)


def test_an_old_home_with_a_registry_path_keeps_its_sqlite_file(home: Path) -> None:
    text = (home / "settings.toml").read_text(encoding="utf-8")
    old = 'url = "sqlite:///registry.sqlite3"'
    (home / "settings.toml").write_text(text.replace(old, 'path = "old.sqlite3"'))
    settings = load_settings(home, environ={})
    assert settings.registry_file == home / "old.sqlite3"
    assert settings.registry.url == "sqlite:///old.sqlite3"


def test_a_registry_path_beside_a_url_is_refused(home: Path) -> None:
    with pytest.raises(SettingsError, match=r"registry\.path"):
        load_settings(home, environ={"CA_REGISTRY__PATH": "old.sqlite3"})


def test_k2_d10_a_key_usage_period_the_ca_certificate_cannot_cover_is_refused(
    home: Path,
) -> None:
    """A certificate issued on the CA key's last permitted day, for the longest validity a
    profile gives (tls-server, 397 days), must end within the CA certificate (D10)."""
    assert load_settings(home, environ={"CA_CA__KEY_USAGE_DAYS": "3253"}).ca.key_usage_days == 3253
    with pytest.raises(SettingsError) as refused:
        load_settings(home, environ={"CA_CA__KEY_USAGE_DAYS": "3254"})
    assert str(refused.value) == (
        "ca.key_usage_days: must be at most ca.validity_days (3650) less the longest profile "
        "validity (397 days, profiles.tls-server), so that a certificate issued on the CA "
        "key's last day ends before the CA certificate (D10)"
    )


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"CA_CA__KEY_USAGE_DAYS": "-1"}, "ca.key_usage_days"),
        ({"CA_CA__KEY_USAGE_DAYS": "3651"}, "ca.key_usage_days"),
        ({"CA_CA__ROLLOVER_BEFORE_DAYS": "0"}, "ca.rollover_before_days"),
        ({"CA_CA__ROLLOVER_BEFORE_DAYS": "3650"}, "ca.rollover_before_days"),
        ({"CA_CA__KEY_USAGE_DAYS": "30", "CA_CA__ROLLOVER_BEFORE_DAYS": "30"},
         "ca.rollover_before_days"),
    ],
)  # fmt: skip
def test_k2_the_key_lifetime_settings_refuse_bad_values_by_name(
    home: Path, environ: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(home, environ=environ)
    assert str(refused.value).startswith(f"{named}: must be")


def test_k2_the_key_lifetime_defaults(home: Path) -> None:
    ca = load_settings(home, environ={}).ca
    assert (ca.key_usage_days, ca.rollover_before_days) == (0, 14)


def test_k4_compromise_certificates_is_revoke_or_mark(home: Path) -> None:
    assert load_settings(home, environ={}).ca.compromise_certificates == "revoke"
    marking = load_settings(home, environ={"CA_CA__COMPROMISE_CERTIFICATES": "mark"})
    assert marking.ca.compromise_certificates == "mark"
    with pytest.raises(SettingsError) as refused:
        load_settings(home, environ={"CA_CA__COMPROMISE_CERTIFICATES": "ignore"})
    assert str(refused.value) == "ca.compromise_certificates: must be one of ('revoke', 'mark')"


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"CA_CA__SUBJECT_SIGN_TOOL": '"' + "x" * 201 + '"'}, "ca.subject_sign_tool"),
        ({"CA_CA__SUBJECT_SIGN_TOOL": "tool",
          "CA_CA__ISSUER_SIGN_TOOL": '{sign_tool = "s", ca_tool = "", sign_tool_cert = "c", '
                                     'ca_tool_cert = "c"}'},
         "ca.issuer_sign_tool.ca_tool"),
        ({"CA_CA__SUBJECT_SIGN_TOOL": "tool",
          "CA_CA__ISSUER_SIGN_TOOL": '{sign_tool = "s", ca_tool = "t", sign_tool_cert = "c", '
                                     f'ca_tool_cert = "{"c" * 101}"}}'},
         "ca.issuer_sign_tool.ca_tool_cert"),
    ],
)  # fmt: skip
def test_rfc9215_5_3_5_4_the_ca_sign_tool_settings_refuse_bad_values_by_name(
    home: Path, environ: dict[str, str], named: str
) -> None:
    """The CA certificate's subjectSignTool is UTF8String SIZE(1..200); its issuerSignTool
    needs all four fields, SIZE(1..200) for the tools and (1..100) for their certificates."""
    with pytest.raises(SettingsError) as refused:
        load_settings(home, environ=environ)
    assert str(refused.value).startswith(f"{named}: must be")


def test_rfc9215_the_ca_sign_tool_is_off_by_default(home: Path) -> None:
    """Default settings keep CA certificates as they were: no Russian CA content."""
    assert load_settings(home, environ={}).ca.subject_sign_tool == ""
    tool = "СКЗИ «Тест» (версия 1.0)"
    assert (
        load_settings(home, environ={"CA_CA__SUBJECT_SIGN_TOOL": tool}).ca.subject_sign_tool == tool
    )


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ("gost2012-256", "gost2012-256-a"),
        ("gost2012-256:TCA", "gost2012-256-tca"),
        ("GOST2012-512:c", "gost2012-512-c"),
        ("gost2012-512", "gost2012-512-a"),
        ("ec-p256", "ec-p256"),
    ],
)
def test_a_gost_key_algorithm_is_named_by_size_and_parameter_set(given: str, named: str) -> None:
    assert key_algorithm_named(given) == named


@pytest.mark.parametrize("given", ["gost2012-512:TCA", "gost2012-384", "ec-p256:A", "dsa"])
def test_an_unknown_key_algorithm_is_refused_with_the_choices(given: str) -> None:
    with pytest.raises(ValueError, match=r"unknown key algorithm .*gost2012-256\[:A\|B"):
        key_algorithm_named(given)


def pkcs11_environ(section: str, algorithm: str) -> dict[str, str]:
    environ = {"CA_CA__ALGORITHM": f'"{algorithm}"', f"CA_{section.upper()}__BACKEND": '"pkcs11"'}
    if section == "hsm":
        environ |= {"CA_HSM__MODULE": '"/x.so"', "CA_HSM__TOKEN_LABEL": '"t"'}
    return environ


@pytest.mark.parametrize("section", ["hsm", "root"])
def test_a_512_bit_gost_key_on_the_pkcs11_backend_is_refused_by_name(
    home: Path, section: str
) -> None:
    with pytest.raises(SettingsError, match=rf"{section}\.backend.*512-bit GOST"):
        load_settings(home, environ=pkcs11_environ(section, "gost2012-512-a"))


@pytest.mark.parametrize("section", ["hsm", "root"])
def test_a_256_bit_gost_key_on_the_pkcs11_backend_is_accepted(home: Path, section: str) -> None:
    settings = load_settings(home, environ=pkcs11_environ(section, "gost2012-256-a"))
    assert settings.ca.algorithm == "gost2012-256-a"


def test_trusted_proxies_are_addresses_or_networks(home: Path) -> None:
    settings = load_settings(
        home, environ={"CA_SERVER__TRUSTED_PROXIES": '["127.0.0.1", "10.0.0.0/8", "::1"]'}
    )
    assert settings.server.trusted_proxies == ("127.0.0.1", "10.0.0.0/8", "::1")
    with pytest.raises(SettingsError, match=r"^server\.trusted_proxies: must be IP addresses"):
        load_settings(home, environ={"CA_SERVER__TRUSTED_PROXIES": '["proxy.example"]'})
