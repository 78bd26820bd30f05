"""The document formats Linli writes and reads: XLSX (`xlsx`, with openpyxl), CSV (`csvfile`) and
PDF (`pdf`, with ReportLab). Pure functions, bytes in and out: no database, no clock, no request;
the services gather the rows and texts and call them."""

from urllib.parse import quote


def attachment(name: str, fallback: str) -> str:
    """Content-Disposition for a file with a Chinese name: an ASCII `filename` for old clients and
    the UTF-8 name in `filename*` (RFC 5987), which browsers prefer."""
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
