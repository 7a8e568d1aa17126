"""The public pages as HTML: pure functions from what the CA says to a string, no I/O.

Every value that reaches the page, the CA's own names included, goes through
`html.escape` (quotes too: some land in attributes); nothing is trusted to be plain. The
page needs no script and loads nothing: one inline style sheet, allowed by its hash in the
Content-Security-Policy (`CONTENT_SECURITY_POLICY`), so `default-src 'none'` holds for
everything else.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from html import escape
from urllib.parse import urlencode, urlsplit

from protocols.x509.names import parse_dn
from server.enrollment.ca_directory import CADirectory, PublishedCertificate
from server.enrollment.public_search import MAX_RESULTS, SearchBy
from server.registry import CertificateRecord
from server.web.api.common import PREFIX
from server.web.pages.texts import text

STYLE = (
    "body{font-family:sans-serif;margin:1.5em auto;max-width:75em;padding:0 1em;color:#111}"
    "h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}"
    "table{border-collapse:collapse;width:100%}"
    "th,td{border:1px solid #ccc;padding:.3em .4em;text-align:left;vertical-align:top}"
    "code,pre{font-family:monospace;font-size:.9em}code.t{word-break:break-all}"
    "pre{background:#f4f4f4;padding:.6em;overflow-x:auto}"
    "nav{float:right}.note{color:#444}.bad{color:#a00}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)


def thumbprint(digest: bytes) -> str:
    """As `openssl x509 -fingerprint -sha256` prints it: AB:CD:..."""
    return ":".join(f"{byte:02X}" for byte in digest)


def index_page(language: str, ca_name: str, directory: CADirectory) -> str:
    """The main page: the CA's certificates, where status is told, how to enroll, the
    search form."""
    t = _texts(language)
    body = [
        f'<h2 id="certificates">{t("certificates")}</h2>',
        f'<p class="note">{t("certificates_note")}</p>',
        _certificates_table(language, directory.certificates),
        f'<p class="note">{t("link_note")}</p>',
        f'<h2 id="status">{t("status")}</h2>',
        f"<h3>{t('crl')}</h3>",
        _url_list(url for c in directory.certificates for url in c.crls),
        f"<h3>{t('ocsp')}</h3>",
        _url_list([directory.ocsp_url]),
        f'<h2 id="enroll">{t("enroll")}</h2>',
        _enrollment(language, directory),
        _search_form(language, SearchBy.NAME, "", False),
    ]
    return _page(language, ca_name, "/", body)


def search_page(
    language: str,
    ca_name: str,
    by: SearchBy,
    query: str,
    prefix: bool,
    found: Sequence[CertificateRecord] | None,
    problem: str | None = None,
) -> str:
    """The search form and, after a search, what it found (`found`) or why it could not
    run (`problem`, already in `language`)."""
    t = _texts(language)
    body = [_search_form(language, by, query, prefix)]
    if problem is not None:
        body.append(f'<p class="bad">{escape(problem)}</p>')
    elif found is not None:
        body.append(_results(language, found))
    body.append(f'<p><a href="{_href("/", language)}">{t("home")}</a></p>')
    return _page(language, ca_name, "/search", body)


def refusal_page(language: str, ca_name: str, message: str) -> str:
    """A page that only says why nothing was done (429)."""
    t = _texts(language)
    body = [f"<p class=\"bad\">{escape(message)}</p>",
            f"<p><a href=\"{_href('/', language)}\">{t('home')}</a></p>"]  # fmt: skip
    return _page(language, ca_name, "/", body)


def _texts(language: str) -> Callable[..., str]:
    """`text` in `language`, escaped."""

    def translated(key: str, **values: object) -> str:
        return escape(text(language, key, **values))

    return translated


def _page(language: str, ca_name: str, path: str, body: Iterable[str]) -> str:
    t = _texts(language)
    other = "en" if language == "ru" else "ru"
    title = f"{t('title')} {escape(ca_name)}"
    return "\n".join([
        "<!DOCTYPE html>",
        f"<html lang=\"{escape(language)}\"><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        f"<title>{title}</title><style>{STYLE}</style></head><body>",
        f"<nav><a href=\"{_href(path, other)}\" hreflang=\"{escape(other)}\">"
        f"{t('other_language')}</a></nav>",
        f"<h1>{title}</h1>",
        *body,
        "</body></html>",
        "",
    ])  # fmt: skip


def _href(path: str, language: str) -> str:
    return escape(f"{path}?{urlencode({'lang': language})}")


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _certificates_table(language: str, certificates: Sequence[PublishedCertificate]) -> str:
    t = _texts(language)
    columns = ("kind", "subject", "serial", "validity", "state", "thumbprint", "download")
    head = "".join(f"<th>{t(key)}</th>" for key in columns)
    rows = []
    for c in certificates:
        kind = t(f"kind.{c.kind}") + ("" if c.kind != "link" else f" ({escape(c.name)})")
        download = ""
        if c.download:
            download = f'<a href="{escape(c.download)}">{escape(_last_part(c.download))}</a>'
        rows.append(
            f"<tr><td>{kind}</td><td>{escape(_readable(c.subject))}</td><td><code>{escape(c.serial)}</code></td>"
            f"<td>{_when(c.not_before)} — {_when(c.not_after)}</td><td>{t(f'state.{c.state}')}</td>"
            f'<td><code class="t">{thumbprint(c.sha256)}</code></td><td>{download}</td></tr>'
        )
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _readable(subject: str) -> str:
    """A subject's RFC 4514 text as a person reads it: "CN=ООО "Ромашка", O=..." without
    the backslashes that RFC 4514 puts before quotes, commas and angle brackets (the
    text as it is when it does not parse)."""
    try:
        pairs = parse_dn(subject)
    except ValueError:
        return subject
    return ", ".join(f"{attribute}={value}" for attribute, value in pairs)


def _last_part(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[-1]


def _url_list(urls: Iterable[str]) -> str:
    items = "".join(f'<li><a href="{escape(url)}">{escape(url)}</a></li>' for url in urls)
    return f"<ul>{items}</ul>"


def _enrollment(language: str, directory: CADirectory) -> str:
    t = _texts(language)
    active = next((c for c in directory.certificates
                   if c.kind == "generation" and c.state == "active"), None)  # fmt: skip
    parts = [f"<p>{t('enroll_note')}</p><ul>"]
    if directory.est_url is not None:
        parts.append(f"<li>{t('est')}: <code>{escape(directory.est_url)}/[&lt;label&gt;/]"
                     "simpleenroll</code></li>")  # fmt: skip
    else:
        parts.append(f"<li>{t('est_off')}</li>")
    parts.append(f"<li>{t('cmp')}: <code>{escape(directory.cmp_url)}[/p/&lt;label&gt;]</code></li>")
    labels = sorted(set(directory.est_labels) | set(directory.cmp_labels))
    if labels:
        parts.append(f"<li>{t('labels')}: {escape(', '.join(labels))}</li>")
    parts.append("</ul>")
    if active is not None and active.download is not None:
        parts.append(f"<p>{t('step_ca')}</p>")
        parts.append(
            _commands(
                [
                    f"curl -o ca.crt {active.download}",
                    "openssl x509 -inform DER -in ca.crt -out ca.pem",
                    "openssl x509 -in ca.pem -noout -fingerprint -sha256",
                ]
            )
        )
    if directory.est_url is not None:
        parts.append(f"<p>{t('step_est')}</p>")
        parts.append(_commands([
            "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \\",
            "    -keyout device.key -subj \"/CN=device-1/O=Plant\" -outform DER \\",
            "    | base64 > device.b64",
            "curl --cacert ca.pem -u \"$ID:$SECRET\" -H \"Content-Type: application/pkcs10\" \\",
            f"    --data-binary @device.b64 {directory.est_url}/simpleenroll \\",
            "    | base64 -d | openssl pkcs7 -inform DER -print_certs > device.pem",
        ]))  # fmt: skip
    if active is not None:
        server = urlsplit(directory.cmp_url)
        parts.append(f"<p>{t('step_cmp')}</p>")
        parts.append(_commands([
            "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out device.key",
            f"openssl cmp -server {server.netloc} -path {server.path.lstrip('/')} \\",
            f"    -recipient \"{openssl_slash_name(active.subject)}\" -cmd ir -ref \"$ID\" \\",
            "    -secret \"pass:$SECRET\" -subject /CN=device-1/O=Plant \\",
            "    -newkey device.key -certout device.pem",
        ]))  # fmt: skip
    return "".join(parts)


def openssl_slash_name(subject: str) -> str:
    """An RFC 4514 name as OpenSSL's -recipient takes it: "/C=RU/O=Demo/CN=Demo CA", the
    most significant attribute first (RFC 4514 text is the reverse); a backslash, slash or
    plus in a value escaped with a backslash, as OpenSSL reads them."""
    escaped = [(name, "".join("\\" + c if c in "\\/+" else c for c in value))
               for name, value in parse_dn(subject)]  # fmt: skip
    return "".join(f"/{name}={value}" for name, value in reversed(escaped))


def _commands(lines: Sequence[str]) -> str:
    return f"<pre>{escape(chr(10).join(lines))}</pre>"


def _search_form(language: str, by: SearchBy, query: str, prefix: bool) -> str:
    t = _texts(language)
    options = "".join(
        f'<option value="{choice.value}"{" selected" if choice is by else ""}>'
        f"{t(f'by.{choice.value}')}</option>"
        for choice in (SearchBy.NAME, SearchBy.SERIAL, SearchBy.KEY)
    )
    matches = "".join(
        f'<option value="{value}"{" selected" if (value == "prefix") == prefix else ""}>'
        f"{t(f'match.{value}')}</option>"
        for value in ("exact", "prefix")
    )
    return (
        f'<h2 id="search">{t("search")}</h2>'
        f'<p class="note">{t("search_note", limit=MAX_RESULTS)}</p>'
        '<form method="get" action="/search">'
        f'<input type="hidden" name="lang" value="{escape(language)}">'
        f'<select name="by" aria-label="{t("kind")}">{options}</select> '
        f'<select name="match" aria-label="{t("match.prefix")}">{matches}</select> '
        f'<input type="search" name="q" size="50" maxlength="200" value="{escape(query)}"'
        f' aria-label="{t("query")}"> <button type="submit">{t("find")}</button></form>'
    )


def _results(language: str, found: Sequence[CertificateRecord]) -> str:
    t = _texts(language)
    if not found:
        return f"<p>{t('none_found')}</p>"
    columns = ("serial", "subject", "validity", "cert.status", "download")
    head = "".join(f"<th>{t(key)}</th>" for key in columns)
    rows = []
    for record in found:
        serial = escape(record.serial)
        downloads = " ".join(
            f'<a href="{PREFIX}/public/certificates/{serial}.{suffix}">{suffix.upper()}</a>'
            for suffix in ("pem", "der")
        )
        rows.append(
            f"<tr><td><code>{serial}</code></td><td>{escape(_readable(record.subject))}</td>"
            f"<td>{_when(record.not_before)} — {_when(record.not_after)}</td>"
            f"<td>{t(f'cert.{record.status.value}')}</td><td>{downloads}</td></tr>"
        )
    summary = t("found", count=len(found))
    if len(found) >= MAX_RESULTS:
        summary += " " + t("limited", limit=MAX_RESULTS)
    return f"<p>{summary}</p><table><tr>{head}</tr>{''.join(rows)}</table>"
