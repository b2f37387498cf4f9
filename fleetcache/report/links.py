"""The third way to name an http entry: a cached index page lists file URLs, and the entry of a
file is stored under the sha224 of its URL (fragment dropped), as pip's cache keys it.

Relative links need the page's own URL, which pip does not store: it is recovered by trying the
index URLs the accounts' pip config names (and PyPI's) against the page's own key.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import replace
from urllib.parse import unquote, urljoin, urlsplit

from fleetcache.model import CacheEntry
from fleetcache.report.attribution import from_filename
from fleetcache.report.entries import Page

PYPI = "https://pypi.org/simple/"


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


def files_by_key(pages: Iterable[Page], index_urls: Sequence[str]) -> dict[str, str]:
    """Entry key -> file name, for every file a cached page links to."""
    urls = (*index_urls, PYPI)
    found: dict[str, str] = {}
    for page in pages:
        base = page_url(page, urls)
        for href in page.links:
            url = urljoin(base, href) if base else href
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                continue  # a relative link of a page whose URL is unknown
            filename = unquote(posixpath.basename(parts.path))
            if filename:
                found.setdefault(url_key(url), filename)
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
            filename = files.get(key[: -len(".body")] if key.endswith(".body") else key)
            got = from_filename(filename) if filename else None
            if got is not None and got.kind != "unknown":
                entry = replace(
                    entry,
                    kind=got.kind,
                    project=got.project,
                    version=got.version,
                    how="index page link",
                )
        named.append(entry)
    return named
