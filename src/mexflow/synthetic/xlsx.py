"""Write an annotation sheet as a reproducible .xlsx file (same table -> same bytes).

openpyxl stamps the save time twice: in docProps/core.xml (created / modified) and in every zip
member's header. Both are replaced by a fixed date so that a corpus generated twice, serially or
in parallel, is byte-identical.
"""
from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pandas as pd

from mexflow.io import atomic_path

SHEET_NAME = "Sheet1"
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_FIXED_CORE_TIME = b"2000-01-01T00:00:00Z"
_CORE_TIMES = re.compile(rb"(<dcterms:(created|modified)\b[^>]*>)[^<]*(</dcterms:\2>)")


def write_sheet(table: pd.DataFrame, path, preamble=()) -> None:
    """Write `table` to the first sheet of `path`, header on row len(preamble) + 1.

    preamble: text rows written in column A above the header (None leaves a row empty).
    Cells keep their Python types (int frame numbers stay numbers, strings stay text).
    """
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        table.to_excel(writer, sheet_name=SHEET_NAME, index=False, startrow=len(preamble))
        sheet = writer.sheets[SHEET_NAME]
        for row, text in enumerate(preamble, start=1):
            if text is not None:
                sheet.cell(row=row, column=1, value=str(text))
    with atomic_path(path) as tmp:
        _write_reproducible_zip(buf.getvalue(), Path(tmp))


def _write_reproducible_zip(xlsx: bytes, path: Path) -> None:
    with zipfile.ZipFile(io.BytesIO(xlsx)) as src, \
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "docProps/core.xml":
                data = _CORE_TIMES.sub(rb"\g<1>" + _FIXED_CORE_TIME + rb"\g<3>", data)
            fixed = zipfile.ZipInfo(info.filename, date_time=_FIXED_ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            dst.writestr(fixed, data)
