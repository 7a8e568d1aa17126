"""The CMP general message (genm) held to the Lightweight CMP Profile, RFC 9483 4.3.

Theory of operation: each support message of 4.3 is a genm that "MUST contain exactly one
element of type InfoTypeAndValue" (4.3.1-4.3.4), answered by a genp with exactly one. So:
  - several InfoTypeAndValues in one genm: refused, badRequest ("transaction not permitted
    or supported", RFC 9810 5.2.3), in an error message: a genp carries no status;
  - none at all (what `openssl cmp -cmd genm` sends without -infotype): RFC 9810 5.3.19
    lets the receiver answer with what it offers; it gets caCerts, the one request every
    client can use;
  - caCerts (4.3.1), certReqTemplate (4.3.3), and currentCRL, signKeyPairTypes,
    encKeyPairTypes, preferredSymmAlg (RFC 9810 5.3.19.2-5.3.19.6, "< absent >"): a genm
    with an infoValue is refused, badRequest, as an error;
  - certReqTemplate (4.3.3) is answered with the path profile's keyUsage and extKeyUsage
    and exactly one control in keySpec, the profile's first (preferred) key type;
  - caCerts is answered with every active generation's CA certificate and the link
    certificates between them (server/enrollment/root_distribution.py);
  - rootCaCert (4.3.2; id-it 20): the infoValue, OPTIONAL, is the root CA certificate the
    client uses (RootCaCertValue ::= CMPCertificate; one that does not decode is
    badRequest, one that is none of this CA's active roots badCertId). The answer is
    id-it-rootCaKeyUpdate (id-it 18) with a RootCaKeyUpdateContent (newWithNew, the
    REQUIRED newWithOld, oldWithNew) for the rollover made from the client's root (with
    none given, the one into the issuing generation), or without a value when there is no
    update: the client has the newest root, or there was no rollover;
  - crlStatusList (4.3.4): its infoValue, the CRLs the client has, is REQUIRED (refused,
    badRequest, without one); answered by id-it-crls with the newer CRLs, no value if none;
  - currentCRL (RFC 9810 5.3.19.6): the current full CRL; with several shards there is no
    one CRL of all, and the value is absent (crlStatusList serves shards);
  - signKeyPairTypes / encKeyPairTypes (5.3.19.2, 5.3.19.3): the key types the path's
    profile certifies that sign / encrypt or agree keys; preferredSymmAlg (5.3.19.4):
    AES-256-CBC, what our EnvelopedData use;
  - supportedLangTags (5.3.19.13): the client's tags, REQUIRED, most preferred first; the
    answer names the one chosen, "en", the language of every statusString here. No value,
    one that does not decode, or no English tag: badRequest;
  - any other infoType is answered with its infoType and no value: the information is not
    supplied here (RFC 9810 5.3.19: the receiver may ignore what it does not recognise).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from cryptography import x509

from config import Settings
from protocols import cmp
from protocols.x509 import extensions as x509_extensions
from server.clock import Clock
from server.enrollment import root_distribution
from server.errors import CAError, ErrorKind

F = cmp.FailureInfo
ID_IT_ROOT_CA_CERT = "1.3.6.1.5.5.7.4.20"  # RFC 9483 4.3.2 (request)
# RFC 9483 4.3.1, 4.3.3; RFC 9810 5.3.19.2-5.3.19.4, 5.3.19.6: these carry no infoValue.
NO_VALUE_ALLOWED = frozenset({
    cmp.ID_IT_CA_CERTS, cmp.ID_IT_CERT_REQ_TEMPLATE, cmp.ID_IT_CURRENT_CRL,
    cmp.ID_IT_SIGN_KEY_PAIR_TYPES, cmp.ID_IT_ENC_KEY_PAIR_TYPES, cmp.ID_IT_PREFERRED_SYMM_ALG,
})  # fmt: skip
LANGUAGE = "en"  # RFC 9810 5.3.19.13: the language of our statusStrings (RFC 5646 tag)


class GeneralMessageRefusal(Exception):
    """A genm answered by an error message (a genp cannot say no)."""

    def __init__(self, failure: cmp.FailureInfo, text: str) -> None:
        super().__init__(text)
        self.failure = failure
        self.text = text


class GeneralMessages:
    """Answers one genm with its genp body (RFC 9483 4.3). ``newer_crls`` is the CRL
    publisher's look-up of 4.3.4 (the CMP server's), ``current_crl`` the current full CRL
    (DER; None when there is not one CRL of all)."""

    def __init__(
        self,
        settings: Settings,
        registry: root_distribution.DistributionRegistry,
        newer_crls: Callable[[tuple[cmp.CRLStatus, ...]], list[bytes]],
        current_crl: Callable[[], bytes | None],
        clock: Clock,
    ) -> None:
        self._clock = clock
        self._settings = settings
        self._registry = registry
        self._newer_crls = newer_crls
        self._current_crl = current_crl

    async def genp_body(self, message: cmp.PKIMessage, profile: str) -> bytes:
        """The genp body for ``message`` under the path's ``profile``. Raises
        GeneralMessageRefusal for what RFC 9483 4.3 does not allow."""
        items = message.general_info
        if len(items) > 1:
            raise GeneralMessageRefusal(
                F.badRequest, "a genm carries exactly one InfoTypeAndValue (RFC 9483 4.3)"
            )
        item = items[0] if items else cmp.GeneralInfo(cmp.ID_IT_CA_CERTS, None)
        if item.info_type in NO_VALUE_ALLOWED and item.value is not None:
            raise GeneralMessageRefusal(
                F.badRequest, f"{item.info_type} is asked for without an infoValue (RFC 9483 4.3)"
            )
        if item.info_type == cmp.ID_IT_CRL_STATUS_LIST and item.value is None:
            raise GeneralMessageRefusal(
                F.badRequest, "crlStatusList needs its infoValue (RFC 9483 4.3.4)"
            )
        answers: dict[str, Callable[[], Awaitable[tuple[str, bytes | None]]]] = {
            cmp.ID_IT_CA_CERTS: self._ca_certs,
            cmp.ID_IT_CERT_REQ_TEMPLATE: lambda: self._template(profile),
            ID_IT_ROOT_CA_CERT: lambda: self._root_update(item.value),
            cmp.ID_IT_CRL_STATUS_LIST: lambda: self._crls(message.crl_status_list),
            cmp.ID_IT_CURRENT_CRL: lambda: _answer(cmp.ID_IT_CURRENT_CRL, self._current_crl()),
            cmp.ID_IT_SIGN_KEY_PAIR_TYPES: lambda: self._key_types(profile, "signing"),
            cmp.ID_IT_ENC_KEY_PAIR_TYPES: lambda: self._key_types(profile, "encryption"),
            cmp.ID_IT_PREFERRED_SYMM_ALG: lambda: _answer(
                cmp.ID_IT_PREFERRED_SYMM_ALG, cmp.preferred_symm_alg_value()
            ),
            cmp.ID_IT_SUPP_LANG_TAGS: lambda: _language(item.value),
        }
        answer = answers.get(item.info_type)
        if answer is None:
            return cmp.genp_body([(item.info_type, None)])
        return cmp.genp_body([await answer()])

    async def _ca_certs(self) -> tuple[str, bytes | None]:
        """RFC 9483 4.3.1: the active generations' CA certificates and their links."""
        certificates = await root_distribution.ca_certificates(
            self._registry, self._settings.ca.name, self._clock()
        )
        value = cmp.ca_certs_value(certificates) if certificates else None
        return cmp.ID_IT_CA_CERTS, value

    async def _template(self, profile: str) -> tuple[str, bytes | None]:
        """RFC 9483 4.3.3: the profile's first key type as keySpec, its keyUsage and
        extKeyUsage in the certTemplate (the subject comes from the credential or the
        request, so it is not fixed here)."""
        settings = self._settings.profile(profile)
        extensions = []
        if settings.key_usage:
            extensions.append(x509_extensions.key_usage(settings.key_usage).dump())
        if settings.extended_key_usage:
            eku = x509_extensions.extended_key_usage(settings.extended_key_usage)
            extensions.append(eku.dump())
        # RFC 9483 4.3.3 writes keySpec as one control "per supported algorithm"; the
        # suite (whose authors wrote 4.3.3) requires exactly one, a template the client
        # fills in without choosing. One is no less correct: the profile's preferred key
        # type, which it certifies; the others stay allowed in requests.
        value = cmp.cert_req_template_value(settings.key_algorithms[:1], extensions)
        return cmp.ID_IT_CERT_REQ_TEMPLATE, value

    async def _key_types(self, profile: str, purpose: str) -> tuple[str, bytes | None]:
        """RFC 9810 5.3.19.2 (signing) and 5.3.19.3 (encryption): the key types the path's
        profile certifies, as their public keys' AlgorithmIdentifiers."""
        info_type = {
            "signing": cmp.ID_IT_SIGN_KEY_PAIR_TYPES,
            "encryption": cmp.ID_IT_ENC_KEY_PAIR_TYPES,
        }[purpose]
        key_types = self._settings.profile(profile).key_algorithms
        return info_type, cmp.key_pair_types_value(key_types, purpose)

    async def _root_update(self, value: bytes | None) -> tuple[str, bytes | None]:
        """RFC 9483 4.3.2: asked with id-it-rootCaCert, answered with id-it-rootCaKeyUpdate."""
        if value is not None:
            try:  # RootCaCertValue ::= CMPCertificate
                x509.load_der_x509_certificate(value)
            except ValueError:
                raise GeneralMessageRefusal(
                    F.badRequest, "the rootCaCert value is not a certificate"
                ) from None
        try:
            update = await root_distribution.root_key_update(
                self._registry, self._settings.ca.name, value, self._clock()
            )
        except CAError as refusal:
            if refusal.kind is not ErrorKind.NOT_FOUND:
                raise
            # RFC 9810 5.2.3 badCertId: no certificate matching the criteria provided
            raise GeneralMessageRefusal(F.badCertId, refusal.message) from None
        if update is None:
            return cmp.ID_IT_ROOT_CA_KEY_UPDATE, None
        content = cmp.root_ca_key_update_value(
            update.new_with_new, update.new_with_old, update.old_with_new
        )
        return cmp.ID_IT_ROOT_CA_KEY_UPDATE, content

    async def _crls(self, statuses: tuple[cmp.CRLStatus, ...]) -> tuple[str, bytes | None]:
        """RFC 9483 4.3.4: the newer CRLs as id-it-crls, no value when there are none."""
        crls = self._newer_crls(statuses)
        return cmp.ID_IT_CRLS, cmp.crls_value(crls) if crls else None


async def _answer(info_type: str, value: bytes | None) -> tuple[str, bytes | None]:
    return info_type, value


async def _language(value: bytes | None) -> tuple[str, bytes | None]:
    """RFC 9810 5.3.19.13: the client's language tags, most preferred first, REQUIRED; the
    answer names exactly one, ours (LANGUAGE), if the client takes it (an RFC 4647 lookup:
    "en" or a tag under it, "en-GB"). Raises GeneralMessageRefusal (badRequest)."""
    if value is None:
        raise GeneralMessageRefusal(F.badRequest, "supportedLangTags needs the client's tags")
    try:
        tags = cmp.parse_supp_lang_tags(value)
    except cmp.CMPFormatError as exc:
        raise GeneralMessageRefusal(F.badRequest, str(exc)) from None
    if not any(tag.lower().split("-")[0] == LANGUAGE for tag in tags):
        raise GeneralMessageRefusal(
            F.badRequest, f"no supported language tag: only {LANGUAGE!r} is served"
        )
    return cmp.ID_IT_SUPP_LANG_TAGS, cmp.lang_tags_value([LANGUAGE])
