"""Sources: readers of raw tables in the canonical schema (files, simulator, live)."""

from downside.sources._files import RawFile, read_files
from downside.sources._schema import TABLES, TableSpec

__all__ = ["TABLES", "RawFile", "TableSpec", "read_files"]
