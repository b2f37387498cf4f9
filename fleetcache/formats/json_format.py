"""JSON: the contract for scripts and for ``merge``; versioned by ``schema_version``."""

from __future__ import annotations

import json

from fleetcache.formats.base import RenderOptions
from fleetcache.formats.fields import document, envs_document
from fleetcache.model import ScanResult


class JsonFormat:
    """Pretty-printed JSON, one document per run."""

    def scan(self, result: ScanResult, options: RenderOptions) -> str:
        """The scan document (see the README for every field)."""
        return json.dumps(document(result), indent=2) + "\n"

    def envs(self, result: ScanResult, options: RenderOptions) -> str:
        """The environments document (see the README)."""
        return json.dumps(envs_document(result), indent=2) + "\n"
