"""Showing received HTML safely: what an agent's screen may render of a customer's mail.

HTML mail is stored exactly as it came (it is evidence, and it can be
forwarded); it is only ever *shown* after passing through ``sanitize_html``,
which uses nh3 (the Ammonia sanitiser, an allow-list HTML parser) - never
regular expressions, which HTML defeats. Scripts, styles, event handlers,
forms, frames and ``javascript:`` links are removed; links open without giving
the page a handle on ours (``rel="noopener noreferrer"``); remote images are
dropped unless ``remote_images`` is True, because loading one tells the sender
that (and when) the mail was read.
"""

from __future__ import annotations

import nh3

__all__ = ["sanitize_html"]

_SCHEMES = {"http", "https", "mailto", "tel", "cid"}


def sanitize_html(html: str, *, remote_images: bool = False) -> str:
    """``html`` with everything that could run, track or restyle the page removed."""
    tags = set(nh3.ALLOWED_TAGS)
    if not remote_images:
        tags.discard("img")
    return nh3.clean(html, tags=tags, url_schemes=_SCHEMES, link_rel="noopener noreferrer",
                     strip_comments=True)
