"""Annotation spreadsheets: locating the file, finding the header row, reading rows by column name.

Rows keep their spreadsheet row number (1-based, as Excel shows it) so that a rejection can name
"<file name> row <n>".
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from mexflow.datasets.errors import CorpusError

HEADER_SCAN_ROWS = 40


@dataclass(frozen=True)
class SheetRow:
    """One data row of an annotation sheet: its row number and cells by canonical column name."""

    file: str
    number: int
    cells: dict

    @property
    def where(self) -> str:
        return f"{self.file} row {self.number}"

    def __getitem__(self, column: str):
        return self.cells[column]


def corpus_root(root, corpus: str) -> Path:
    """`root` as a Path; CorpusError if it is not a folder."""
    path = Path(root)
    if not path.is_dir():
        raise CorpusError(corpus, None, str(path), "corpus root is not a folder")
    return path


def find_annotation(root: Path, pattern: str, corpus: str) -> Path:
    """The one file matching the glob `pattern` under root; CorpusError for none or several."""
    hits = sorted(Path(root).glob(pattern))
    if not hits:
        raise CorpusError(corpus, None, str(Path(root) / pattern), "annotation file not found")
    if len(hits) > 1:
        raise CorpusError(corpus, None, str(Path(root) / pattern),
                          f"several annotation files match: {[h.name for h in hits]}")
    return hits[0]


def is_blank(value) -> bool:
    """True for an empty cell: None, NaN or whitespace-only text."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and not value.strip()


def cell_text(value) -> str:
    """A cell as stripped text: '' for a blank cell, '6' for 6 or 6.0."""
    if is_blank(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _norm(name) -> str:
    return " ".join(str(name).split()).lower()


def _sheet_tables(path: Path, corpus: str) -> list[list[tuple]]:
    """Every sheet of the file as a list of rows (row 1 first, blank rows kept)."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            import openpyxl

            book = openpyxl.load_workbook(path, data_only=True)
            try:
                return [list(ws.iter_rows(min_row=1, max_row=ws.max_row, values_only=True))
                        for ws in book.worksheets]
            finally:
                book.close()
        if suffix == ".csv":
            with open(path, newline="", encoding="utf-8-sig") as fh:
                return [[tuple(c if c.strip() else None for c in row) for row in csv.reader(fh)]]
    except Exception as exc:  # noqa: BLE001 - re-raised with the file named
        raise CorpusError(corpus, None, str(path), f"cannot read annotation file: {exc}") from exc
    raise CorpusError(corpus, None, str(path), "annotation file must be .xlsx, .xlsm or .csv")


def _find_header(tables: list[list[tuple]], markers: list[str]) -> tuple[list[tuple], int] | None:
    """(sheet rows, 0-based header row) of the first row within HEADER_SCAN_ROWS holding all markers."""
    wanted = {_norm(m) for m in markers}
    for rows in tables:
        for i, row in enumerate(rows[:HEADER_SCAN_ROWS]):
            if wanted <= {_norm(c) for c in row if not is_blank(c)}:
                return rows, i
    return None


def read_annotation(path: Path, corpus: str, required: list[str],
                    header_markers: list[str] | None = None) -> list[SheetRow]:
    """Data rows of an annotation sheet, cells keyed by the names in `required`.

    Column names match case-insensitively, surrounding and repeated spaces ignored; other columns
    are dropped. Without `header_markers` the header is row 1 of the first sheet; with them it is
    the first row (of the first sheet that has one, within its first 40 rows) containing every
    marker, so a text preamble above the table is skipped. Rows whose required cells are all blank
    are skipped. Raises CorpusError: unreadable file, header row not found, required column absent.
    """
    tables = _sheet_tables(path, corpus)
    if header_markers:
        found = _find_header(tables, header_markers)
        if found is None:
            raise CorpusError(corpus, None, str(path),
                              f"header row not found: no row among the first {HEADER_SCAN_ROWS} "
                              f"holds {header_markers}")
        rows, head = found
    else:
        rows, head = (tables[0] if tables else []), 0
    header = [_norm(c) if not is_blank(c) else None for c in (rows[head] if rows else ())]
    position = {}
    for j, name in enumerate(header):
        if name is not None:
            position.setdefault(name, j)
    missing = [c for c in required if _norm(c) not in position]
    if missing:
        found_names = [str(c).strip() for c in (rows[head] if rows else ()) if not is_blank(c)]
        raise CorpusError(corpus, None, str(path),
                          f"annotation header lacks columns {missing}; found {found_names}")
    out = []
    for i in range(head + 1, len(rows)):
        row = rows[i]
        cells = {c: (row[position[_norm(c)]] if position[_norm(c)] < len(row) else None)
                 for c in required}
        if all(is_blank(v) for v in cells.values()):
            continue
        out.append(SheetRow(path.name, i + 1, cells))
    return out
