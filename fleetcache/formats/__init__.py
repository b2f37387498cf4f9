"""Output formats: one module each, one entry in FORMATS; adding a format touches only those two."""

from __future__ import annotations

from fleetcache.formats.base import Formatter, RenderOptions
from fleetcache.formats.csv_format import CsvFormat
from fleetcache.formats.html import HtmlFormat
from fleetcache.formats.json_format import JsonFormat
from fleetcache.formats.markdown import MarkdownFormat
from fleetcache.formats.prometheus import PrometheusFormat
from fleetcache.formats.table import TableFormat

# --format name -> formatter; the first is the default
FORMATS: dict[str, Formatter] = {
    "table": TableFormat(),
    "json": JsonFormat(),
    "csv": CsvFormat(),
    "markdown": MarkdownFormat(),
    "prometheus": PrometheusFormat(),
    "html": HtmlFormat(),
}

__all__ = ["FORMATS", "Formatter", "RenderOptions"]
