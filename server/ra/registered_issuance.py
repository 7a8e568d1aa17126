"""Profiles that carry personal identifiers are issued only through the registration
authority (D2, P2, P3, D1).

The rule: a profile whose `registered_subscribers_only` holds (`requires_registered_subscriber`
in its settings; on by default, and never off, for a profile whose subject takes SNILS, INN,
INNLE, OGRN or OGRNIP: the shipped `person` and `organisation`) is issued only
- to a registered subscriber (S1) who is identified (P3) and acknowledged the current
  notice (D1): `Subscribers.ready`, checked when the application is approved;
- through an application an officer approved (P2), whose subject was made from the
  registry (D2).

So issuance under such a profile needs both the subscriber and the approved application,
and an enrollment credential for it exists only as an approved application's (`approve`
prints it). Every other way in is refused with CAError(FORBIDDEN) naming the route: `issue`
(with or without `--subject`), `enroll-code --subject` or `--subscriber`, the API's
credentials, a code not bound to an approved application over EST or CMP, and a new
certificate by the holder's current one (EST simplereenroll, CMP kur/cr): each certificate
of such a profile has its own application.
"""

from __future__ import annotations

from config import ProfileSettings
from server.errors import CAError, ErrorKind
from server.registry.records import ApplicationRow

RA_ROUTE = "register, identify, acknowledge, apply, approve"


def _refusal(why: str) -> CAError:
    return CAError(ErrorKind.FORBIDDEN, why)


def issued_only(profile_name: str) -> str:
    """The rule, as refusals state it, with the route that satisfies it."""
    return (
        f"profile {profile_name!r} is issued only to a registered, identified subscriber who "
        f"acknowledged the notice, through an approved application ({RA_ROUTE})"
    )


def check_issuance(
    profile_name: str,
    profile: ProfileSettings,
    subscriber_id: str | None,
    application: ApplicationRow | None,
    approving: bool = False,
) -> None:
    """Raises CAError(FORBIDDEN) when a certificate of this profile would be issued for no
    registered subscriber, or on no application of that subscriber for this profile that
    an officer approved: `approved`, or `submitted` while `approving` it (the issuance is
    `approve` itself, which holds the application with its intent, so that only one
    decision issues)."""
    if not profile.registered_subscribers_only:
        return
    rule = issued_only(profile_name)
    if subscriber_id is None or application is None:
        raise _refusal(rule)
    decided = application.state == "approved" or (approving and application.state == "submitted")
    if not decided or application.subscriber_id != subscriber_id:
        raise _refusal(f"application {application.id} is not an approved one of this "
                       f"subscriber: {rule}")  # fmt: skip
    if application.profile != profile_name:
        raise _refusal(f"application {application.id} is for another profile: {rule}")


def check_credential(
    profile_name: str,
    profile: ProfileSettings,
    subscriber_id: str | None,
    application_id: str | None,
) -> None:
    """Raises CAError(FORBIDDEN) for an enrollment credential of this profile that is not
    an approved application's for its registered subscriber."""
    if profile.registered_subscribers_only and (subscriber_id is None or application_id is None):
        raise _refusal(
            f"profile {profile_name!r} is issued only through an approved application: approve "
            f"makes its enrollment code ({RA_ROUTE})"
        )


def check_enrollment(
    profile_name: str, profile: ProfileSettings, application_id: str | None
) -> None:
    """Raises CAError(FORBIDDEN) when a credential presented over EST or CMP is not bound
    to an approved application, for a profile that needs one (a code made before the
    profile required it)."""
    if profile.registered_subscribers_only and application_id is None:
        raise _refusal(
            "this enrollment code is not bound to an approved application: "
            + issued_only(profile_name)
        )
