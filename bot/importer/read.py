"""Reading an import file: CSV (UTF-8, UTF-8 with BOM, UTF-16 with BOM, GBK/GB18030: detected) or .xlsx
(the first sheet), into a header and its rows; the header found among the first few rows."""
from __future__ import annotations

import csv
import io
import sys
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

PROGRESS_MIN_ROWS = 2000  # a progress bar (stderr, a terminal only) for files longer than this
HEADER_SEARCH_ROWS = 10  # an export may have a title line or two above its header


def label(value) -> str:
    """A header, stage or status as compared: NFKC (full-width → half-width), trimmed, lower case."""
    return unicodedata.normalize("NFKC", str(value)).strip().lower()


def cell_text(value) -> str:
    """A cell as text: numbers without a spurious .0, dates in ISO form."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip().replace("\x00", "") if "\x00" in value else value.strip()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value).strip()


@dataclass
class Table:
    header: list[str]
    header_row: int
    rows: list[tuple[int, list]]  # (row number as a spreadsheet shows it, cells)
    encoding: str = ""


def decode(data: bytes, encoding: str | None) -> tuple[str, str]:
    """The text of a CSV file and the encoding it was read with: UTF-8 (with or without BOM), UTF-16 with
    BOM, else GB18030 (a superset of GBK, what Chinese Excel saves as "CSV")."""
    if encoding:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError as e:
            raise ValueError(f"文件不是 {encoding} 编码 (第 {e.start} 字节). 请检查映射文件中的 encoding") from None
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError:
        raise ValueError("无法识别文件编码 (不是 UTF-8 或 GBK). 请另存为 UTF-8 CSV, "
                         "或在映射文件中写 encoding = \"...\"") from None


def csv_rows(path: str, encoding: str | None):
    text, used = decode(Path(path).read_bytes(), encoding)
    first = text[:text.find("\n")] if "\n" in text else text
    delimiter = max((",", "\t", ";"), key=first.count) if any(c in first for c in ",\t;") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    return ((i, row) for i, row in enumerate(reader, start=1)), used


def xlsx_rows(path: str, show_progress: bool):
    from openpyxl import load_workbook
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:  # noqa: BLE001  (a damaged or mislabelled file: openpyxl raises many kinds)
        raise ValueError(f"无法读取 Excel 文件: {e}") from None
    ws = wb.worksheets[0]

    def rows():
        try:
            it = ws.iter_rows(values_only=True)
            if show_progress and (ws.max_row or 0) > PROGRESS_MIN_ROWS:
                from tqdm import tqdm
                it = tqdm(it, total=ws.max_row, desc="读取", unit="行", file=sys.stderr, mininterval=0.5,
                          leave=False)
            for i, row in enumerate(it, start=1):
                yield i, list(row)
        finally:
            wb.close()
    return rows(), "xlsx"


def read_table(path: str, find_header, encoding: str | None = None, show_progress: bool = False) -> Table:
    """Every non-empty row of the file's first sheet. The header is the first row, among the first few,
    for which `find_header(labels)` is true (or the first row, when none is)."""
    suffix = Path(path).suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        rows, used = xlsx_rows(path, show_progress)
    elif suffix == ".xls":
        raise ValueError("不支持旧版 .xls 文件: 请在 Excel 中另存为 .xlsx 或 CSV")
    else:
        rows, used = csv_rows(path, encoding)
    header, header_row, candidates, body = None, 0, [], []
    for n, cells in rows:
        if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
            continue
        if header is None:
            if find_header([label(cell_text(c)) for c in cells]):
                header, header_row = [cell_text(c) for c in cells], n
                continue
            candidates.append((n, cells))
            if len(candidates) < HEADER_SEARCH_ROWS:
                continue
            header_row, first = candidates.pop(0)
            header = [cell_text(c) for c in first]
            body.extend(candidates)
            candidates = []
            continue
        body.append((n, cells))
    if header is None and candidates:
        header_row, first = candidates.pop(0)
        header = [cell_text(c) for c in first]
        body = candidates + body
    return Table(header or [], header_row, body, used)
