"""JSON: the contract for scripts and for ``merge``; versioned by ``schema_version``."""

from __future__ import annotations

import json
from typing import Any

from fleetcache.formats.base import RenderOptions
from fleetcache.formats.fields import document, entry_record, envs_document, report_document
from fleetcache.model import CacheEntry, ScanResult, Skipped
from fleetcache.report.views import Report


class JsonFormat:
    """Pretty-printed JSON, one document per run."""

    def scan(self, result: ScanResult, options: RenderOptions) -> str:
        """The scan document (see the README for every field)."""
        return json.dumps(document(result), indent=2) + "\n"

    def envs(self, result: ScanResult, options: RenderOptions) -> str:
        """The environments document (see the README)."""
        return json.dumps(envs_document(result), indent=2) + "\n"

    def report(self, report: Report, skipped: list[Skipped], options: RenderOptions) -> str:
        """The report document (see the README)."""
        return json.dumps(report_document(report, skipped), indent=2) + "\n"

    def entries(self, found: list[tuple[str, CacheEntry]], options: RenderOptions) -> str:
        """A list of entry records (see the README)."""
        return json.dumps([entry_record(user, e) for user, e in found], indent=2) + "\n"

    def merged(self, doc: dict[str, Any], options: RenderOptions) -> str:
        """The merged document (see the README)."""
        return json.dumps(doc, indent=2) + "\n"
