"""The third way to name an http entry: a cached index page lists file URLs, and the entry of a
file is stored under the sha224 of its URL (fragment dropped), as pip's cache keys it.

Relative links need the page's own URL, which pip does not store: it is recovered by trying the
index URLs the accounts' pip config names (and PyPI's) against the page's own key.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

from fleetcache.model import CacheEntry
from fleetcache.report.attribution import from_filename
from fleetcache.report.entries import Page

PYPI = "https://pypi.org/simple/"
RESERVED = re.compile("(@|%2F)", re.IGNORECASE)


def url_key(url: str) -> str:
    """The cache key pip (cachecontrol) gives a URL: scheme and host lower-cased, no fragment."""
    parts = urlsplit(url)
    path = parts.path or "/"
    request = f"{path}?{parts.query}" if parts.query else path
    normalised = f"{parts.scheme.lower()}://{parts.netloc.lower()}{request}"
    return hashlib.sha224(normalised.encode()).hexdigest()


def page_url(page: Page, index_urls: Iterable[str]) -> str | None:
    """The URL a page was fetched from, when one of the index URLs explains its key."""
    for index in index_urls:
        candidate = index.rstrip("/") + "/" + page.project + "/"
        if url_key(candidate) == page.key:
            return candidate
    return None


def quoted(url: str) -> str:
    """A link as pip requests it (``pip._internal.models.link._ensure_quoted_url``): its path
    unquoted then quoted again, split around ``@`` and ``%2F`` which stay as they are."""
    parts = urlsplit(url)
    pieces = RESERVED.split(parts.path)
    cleaned = []
    for i, piece in enumerate(pieces):
        cleaned.append(piece.upper() if i % 2 else quote(unquote(piece)))
    return urlunsplit(parts._replace(path="".join(cleaned)))


def files_by_key(pages: Iterable[Page], index_urls: Sequence[str]) -> dict[str, tuple[str, bool]]:
    """Entry key -> (file name, whether it is the file's PEP 658 ``.metadata``), for every file
    a cached page links to, its URL built as pip builds it (``<base href>`` honoured)."""
    urls = (*index_urls, PYPI)
    found: dict[str, tuple[str, bool]] = {}
    for page in pages:
        page_address = page_url(page, urls)
        base = urljoin(page_address, page.base) if page_address and page.base else page_address
        if base is None and page.base and urlsplit(page.base).netloc:
            base = page.base
        for href in page.links:
            if href.startswith(("https://", "http://")):
                url = href
            elif base:
                url = urljoin(base, href)
            else:
                continue  # a relative link of a page whose URL is unknown
            url = quoted(url.split("#", 1)[0])
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                continue
            filename = unquote(posixpath.basename(parts.path))
            if filename:
                found.setdefault(url_key(url), (filename, False))
                found.setdefault(url_key(url + ".metadata"), (filename, True))
    return found


def name_by_links(
    entries: Iterable[CacheEntry], pages: Iterable[Page], index_urls: Sequence[str]
) -> list[CacheEntry]:
    """The entries, those still unknown named by the page links that point at them."""
    files = files_by_key(pages, index_urls)
    named = []
    for entry in entries:
        if entry.kind == "unknown" and entry.area != "wheels":
            key = posixpath.basename(entry.path)
            linked = files.get(key[: -len(".body")] if key.endswith(".body") else key)
            got = from_filename(linked[0]) if linked else None
            if linked is not None and got is not None and got.kind != "unknown":
                entry = replace(
                    entry,
                    kind="core metadata" if linked[1] else got.kind,
                    project=got.project,
                    version=got.version,
                    how="index page link",
                )
        named.append(entry)
    return named
