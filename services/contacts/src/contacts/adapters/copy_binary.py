"""PostgreSQL's binary COPY format: moved to `shared.copy_binary` (audit-log writes its entries with it
too); the names contacts uses stay importable from here."""

from shared.copy_binary import HEADER, TRAILER, RowEncoder, stream

__all__ = ["HEADER", "TRAILER", "RowEncoder", "stream"]
