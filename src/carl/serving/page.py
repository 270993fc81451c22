"""The explorer page of ``carl serve`` and what keeps a browser safe with it: the page inlined into one
document, its Content-Security-Policy (inline code by hash only), and the Host-header check against DNS
rebinding."""

import base64
import hashlib
import pathlib
import re

STATIC = pathlib.Path(__file__).parent / "static"


def page_html(api_key_required: bool) -> str:
    """The explorer as one self-contained page (CSS and JS inlined): with an API key, the browser can
    then fetch it with an Authorization header and needs no further unauthenticated request."""
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    html = html.replace("/*INLINE:style.css*/", (STATIC / "style.css").read_text(encoding="utf-8"))
    html = html.replace("/*INLINE:app.js*/", (STATIC / "app.js").read_text(encoding="utf-8"))
    return html.replace("__API_KEY_REQUIRED__", "true" if api_key_required else "false")


def inline_hashes(html: str) -> list[str]:
    """CSP source expressions for the page's inline <script> and <style> blocks."""
    return ["'sha256-" + base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii") + "'"
            for body in re.findall(r"<(?:script|style)>(.*?)</(?:script|style)>", html, flags=re.S)]


def content_security_policy(*pages: str) -> str:
    """Nothing but the pages' own inline code (by hash), requests to this server, and data: images; no
    framing (clickjacking), no <base>, forms post only here."""
    hashes = " ".join(dict.fromkeys(h for page in pages for h in inline_hashes(page)))
    return (f"default-src 'none'; script-src {hashes}; style-src {hashes}; connect-src 'self'; img-src 'self' data:; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


HOST_HEADER = re.compile(r"(?P<name>\[[0-9a-f:.]+\]|[^:\[\]]+)(?::(?P<port>[0-9]{1,5}))?")


def host_allowed(host_header: str, allowed: tuple[str, ...]) -> bool:
    """The Host header is NAME or NAME:PORT (an IPv6 address in brackets) and NAME is one of ``allowed``.
    Nothing else passes: before, anything after an IPv6 address's "]" ("[::1]evil.example") or a port that
    was no number went through."""
    match = HOST_HEADER.fullmatch(host_header.strip().lower())
    return match is not None and match["name"] in allowed
