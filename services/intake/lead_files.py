"""Reading the lead files marketing hands us: CSV in whatever encoding Excel or WPS saved it, and
XLSX, with headers in English or Chinese.

Guarantees:
- Rows stream: one row in memory at a time (a 1,000,000-row file reads in constant memory).
- Every row keeps its line number (the header is line 1; for CSV, the physical line a row starts on)
  and its original cells, so a rejected row can be written back out as it was.
- A file we cannot read raises :class:`UnreadableFile` with a sentence a person can act on (which
  encoding was tried, on which line it failed, and ``--encoding`` to override), never a traceback.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leadrelay.services.intake.field_names import HEADER_SYNONYMS, LEAD_FIELDS, normalised_header

_TRUE = {"1", "true", "yes", "y", "是", "同意", "已同意", "√"}
_FALSE = {"0", "false", "no", "n", "否", "不同意", "未同意", "×"}
_SAMPLE_BYTES = 256 * 1024


class UnreadableFile(Exception):
    """The file can't be read as leads; the message says why and what to do."""


@dataclass(frozen=True)
class FileRow:
    line: int  # where the row starts in the file (the header is line 1)
    cells: dict[str, str]  # the original cells, by the file's own header
    body: dict[str, Any]  # the lead as the API takes it (fields, and attributes for other columns)


def header_fields(headers: list[str], overrides: Mapping[str, str]) -> dict[str, str | None]:
    """Which lead field each header fills (None: it becomes an attribute). ``overrides`` maps a
    field to a header (``{"email": "邮件地址"}``) and wins over the synonyms. Raises UnreadableFile
    for an override naming a field we don't have or a header the file lacks, and for two headers
    that would fill one field."""
    for field, header in overrides.items():
        if field not in LEAD_FIELDS:
            raise UnreadableFile(f"--map {field}={header}: '{field}' is not a lead field "
                                 f"(one of: {', '.join(LEAD_FIELDS)}).")
        if header not in headers:
            raise UnreadableFile(f"--map {field}={header}: the file has no column '{header}'.")
    by_header = {header: field for field, header in overrides.items()}
    found: dict[str, str | None] = {}
    filled: dict[str, str] = {}
    for header in headers:
        field = by_header.get(header)
        if field is None and header not in by_header:
            field = HEADER_SYNONYMS.get(normalised_header(header))
            if field in overrides:  # the override names another column for this field
                field = None
        if field is not None:
            if field in filled:
                raise UnreadableFile(f"Columns '{filled[field]}' and '{header}' both mean {field}; "
                                     f"say which with --map {field}=COLUMN.")
            filled[field] = header
        found[header] = field
    return found


def to_body(cells: Mapping[str, str], fields: Mapping[str, str | None],
            default_country: str | None = None) -> dict[str, Any]:
    """The lead body for one row: empty cells are left out; other columns become attributes; a row
    without a country gets ``default_country`` (which is also how a local phone number is read)."""
    body: dict[str, Any] = {}
    attributes: dict[str, str] = {}
    for header, value in cells.items():
        value = value.strip()
        if not value:
            continue
        field = fields.get(header)
        if field is None:
            attributes[header.strip()] = value
        elif field == "employees":
            cleaned = value.replace(",", "").strip()
            body[field] = int(cleaned) if cleaned.isdigit() else value
        elif field == "consent":
            lowered = value.lower()
            body[field] = True if lowered in _TRUE else False if lowered in _FALSE else value
        else:
            body[field] = value
    if default_country and "country" not in body:
        body["country"] = default_country
    if attributes:
        body["attributes"] = attributes
    return body


def header_delimiter(header_line: str) -> str:
    """The delimiter a header line uses: a comma, or the tab of Excel's "Unicode text" (UTF-16) and
    the semicolon of a European Excel, whichever the header has most of."""
    return max((",", "\t", ";"), key=header_line.count)


def detect_encoding(path: Path) -> str:
    """The encoding of a CSV file, from its first 256 KiB: a byte-order mark first (UTF-8, UTF-16),
    then UTF-8 if the sample decodes, then charset-normalizer's best guess. The Chinese GB family
    (GB2312, GBK) reads as GB18030, its superset."""
    with path.open("rb") as handle:
        sample = handle.read(_SAMPLE_BYTES)
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)  # a cut last character is fine
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(sample, cp_isolation=["gb18030", "big5", "utf_16", "cp1252", "latin_1", "shift_jis"]).best()
    if best is None:
        raise UnreadableFile(f"Could not tell the encoding of {path.name}; name it with --encoding "
                             "(for example --encoding gb18030).")
    encoding = codecs.lookup(best.encoding).name
    return "gb18030" if encoding in {"gb2312", "gbk", "gb18030", "hz"} else encoding


def is_xlsx(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == b"PK\x03\x04"  # a zip: XLSX; a CSV never starts so


def read_rows(path: Path, *, encoding: str | None = None, overrides: Mapping[str, str] | None = None,
              sheet: str | None = None, default_country: str | None = None) -> Iterator[FileRow]:
    """The file's rows (CSV or XLSX, told apart by content), streaming."""
    if is_xlsx(path):
        yield from _xlsx_rows(path, overrides or {}, sheet, default_country)
    else:
        yield from _csv_rows(path, encoding or detect_encoding(path), overrides or {}, default_country)


def check_header(path: Path, *, encoding: str | None = None, overrides: Mapping[str, str] | None = None,
                 sheet: str | None = None) -> dict[str, str | None]:
    """Reads only the header and says which field each column fills; raises UnreadableFile before a
    single row is imported when the file, its encoding or the overrides are wrong."""
    if is_xlsx(path):
        from openpyxl import load_workbook

        try:
            book = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:
            raise UnreadableFile(f"{path.name} is not an Excel workbook we can read ({type(exc).__name__}).") from exc
        try:
            first = next(_sheet(book, sheet, path).iter_rows(values_only=True), ())
        finally:
            book.close()
        headers = [_cell_text(value) for value in first]
    else:
        used = encoding or detect_encoding(path)
        try:
            with path.open(newline="", encoding=used) as handle:
                line = handle.readline()
        except UnicodeDecodeError as exc:
            raise _undecodable(path, used, exc) from exc
        headers = next(csv.reader([line], delimiter=header_delimiter(line)), [])
    return header_fields(_unique_headers(headers), overrides or {})


def count_rows(path: Path, *, encoding: str | None = None, sheet: str | None = None) -> int | None:
    """How many data rows the file has (for a progress bar); None when XLSX doesn't say."""
    if is_xlsx(path):
        from openpyxl import load_workbook

        book = load_workbook(path, read_only=True)
        try:
            sheet_rows = _sheet(book, sheet, path).max_row
        finally:
            book.close()
        return None if sheet_rows is None else max(0, sheet_rows - 1)
    used = encoding or detect_encoding(path)
    try:
        with path.open(newline="", encoding=used) as handle:
            delimiter = header_delimiter(handle.readline())
            handle.seek(0)
            return max(0, sum(1 for _ in csv.reader(handle, delimiter=delimiter)) - 1)
    except UnicodeDecodeError as exc:
        raise _undecodable(path, used, exc) from exc


def _csv_rows(path: Path, encoding: str, overrides: Mapping[str, str],
              default_country: str | None) -> Iterator[FileRow]:
    try:
        with path.open(newline="", encoding=encoding) as handle:
            delimiter = header_delimiter(handle.readline())
            handle.seek(0)
            reader = csv.reader(handle, delimiter=delimiter)
            headers = next(reader, None)
            if headers is None:
                return
            headers = _unique_headers(headers)
            fields = header_fields(headers, overrides)
            line = reader.line_num + 1
            for values in reader:
                if any(value.strip() for value in values):
                    cells = dict(zip(headers, values, strict=False))
                    if len(values) > len(headers):  # cells beyond the header: kept, not dropped
                        cells.update({f"column {i + 1}": v for i, v in enumerate(values) if i >= len(headers)})
                    yield FileRow(line, cells, to_body(cells, fields, default_country))
                line = reader.line_num + 1
    except UnicodeDecodeError as exc:
        raise _undecodable(path, encoding, exc) from exc
    except csv.Error as exc:
        raise UnreadableFile(f"{path.name} is not a CSV file we can read: {exc}.") from exc


def _xlsx_rows(path: Path, overrides: Mapping[str, str], sheet: str | None,
               default_country: str | None) -> Iterator[FileRow]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile/KeyError/InvalidFileException for a bad file
        raise UnreadableFile(f"{path.name} is not an Excel workbook we can read ({type(exc).__name__}).") from exc
    try:
        rows = _sheet(book, sheet, path).iter_rows(values_only=True)
        first = next(rows, None)
        if first is None:
            return
        headers = _unique_headers([_cell_text(value) for value in first])
        fields = header_fields(headers, overrides)
        for line, values in enumerate(rows, start=2):
            texts = [_cell_text(value) for value in values]
            if any(text.strip() for text in texts):
                cells = dict(zip(headers, texts, strict=False))
                yield FileRow(line, cells, to_body(cells, fields, default_country))
    finally:
        book.close()


def _sheet(book: Any, name: str | None, path: Path) -> Any:
    if name is None:
        return book.worksheets[0]
    if name not in book.sheetnames:
        raise UnreadableFile(f"{path.name} has no sheet '{name}' (it has: {', '.join(book.sheetnames)}).")
    return book[name]


def _cell_text(value: object) -> str:
    """A cell as the text a person sees: 13800138000.0 is the phone 13800138000."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _unique_headers(headers: list[str]) -> list[str]:
    """Headers as keys: blank ones named by position, repeated ones numbered."""
    seen: dict[str, int] = {}
    unique = []
    for index, header in enumerate(headers):
        header = header.strip().lstrip("\ufeff") or f"column {index + 1}"
        if header in seen:
            seen[header] += 1
            header = f"{header} ({seen[header]})"
        else:
            seen[header] = 1
        unique.append(header)
    return unique


def _undecodable(path: Path, encoding: str, exc: UnicodeDecodeError) -> UnreadableFile:
    return UnreadableFile(f"{path.name} does not read as {encoding} ({exc.reason}); name its encoding with "
                          "--encoding (for example --encoding gb18030 or --encoding utf-16).")
