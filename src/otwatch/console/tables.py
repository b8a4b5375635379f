"""What every list shares beyond paging: sorting by a named column (``?sort=vendor``,
``?sort=-last_seen`` for descending) and CSV export of exactly the rows a filter selects, in the same
order. Each domain names its sortable columns (a ``Sorts`` table); the API and the pages read
``?sort=`` through :func:`sort_by`, so both sort alike.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from fastapi.responses import Response
from sqlalchemy import ColumnElement, Select
from sqlalchemy.orm import QueryableAttribute, Session

__all__ = ["Sorts", "csv_response", "joined", "parse_sort", "sort_by"]

#: column key -> the SQL expressions it orders by (the first decides; the others break ties)
Column = ColumnElement[Any] | QueryableAttribute[Any]
Sorts = Mapping[str, Sequence[Column]]

#: any SELECT, whatever its row's shape (an entity, or an entity with its counts)
SelectT = TypeVar("SelectT", bound="Select[*tuple[Any, ...]]")

EXPORT_CHUNK = 1000  # rows read at a time for a CSV
EXPORT_MAX = 200_000  # rows in one CSV at most


def parse_sort(value: str | None, sorts: Sorts) -> tuple[str, bool] | None:
    """``"vendor"`` -> ``("vendor", False)``, ``"-vendor"`` -> ``("vendor", True)``; None when empty.
    Raises ValueError for a column that cannot be sorted, naming those that can."""
    if not value:
        return None
    key, descending = (value[1:], True) if value.startswith("-") else (value, False)
    if key not in sorts:
        raise ValueError(f"cannot sort by {key!r}; sortable: {', '.join(sorts)}")
    return key, descending


def sort_by(stmt: SelectT, value: str | None, sorts: Sorts, tiebreak: Column) -> SelectT:
    """``stmt`` ordered by ``?sort=`` (its own default order when None). Empty values sort last in
    either direction, on SQLite and PostgreSQL alike; ``tiebreak`` (a unique column) keeps pages
    stable."""
    parsed = parse_sort(value, sorts)
    if parsed is None:
        return stmt
    key, descending = parsed
    order = [(c.desc() if descending else c.asc()).nulls_last() for c in sorts[key]]
    return stmt.order_by(None).order_by(*order, tiebreak)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    text = str(value)
    # a spreadsheet must not run a cell as a formula (CSV injection): device-told text is not trusted
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_response(
    db: Session,
    stmt: Select[*tuple[Any, ...]],
    columns: Sequence[tuple[str, Callable[[Any], object]]],
    filename: str,
    prepare: Callable[[list[Any]], Callable[[Any], Any]] | None = None,
    tuples: bool = False,
) -> Response:
    """Every row of ``stmt`` (at most ``EXPORT_MAX``) as CSV, header row first: ``columns`` are
    (heading, value of a row). Rows are read ``EXPORT_CHUNK`` at a time; ``prepare`` is given each
    chunk and returns what each of its rows becomes before the columns read it (e.g. the row with its
    sensor's name, fetched once per chunk); ``tuples``: each row is the statement's whole result row
    (an entity with its counts), not its first column. Built before answering, while the request's
    database session is open."""
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow([name for name, _ in columns])
    offset = 0
    while offset < EXPORT_MAX:
        window = stmt.limit(min(EXPORT_CHUNK, EXPORT_MAX - offset)).offset(offset)
        chunk = list(db.execute(window).all() if tuples else db.scalars(window))
        shape = prepare(chunk) if prepare and chunk else (lambda r: r)
        for row in chunk:
            item = shape(row)
            out.writerow([_cell(get(item)) for _, get in columns])
        if len(chunk) < EXPORT_CHUNK:
            break
        offset += EXPORT_CHUNK
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


def joined(values: Iterable[object]) -> str:
    return "; ".join(str(v) for v in values)
