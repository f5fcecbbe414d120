"""One page of a filtered list and the total, the one way every list endpoint pages."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import func
from sqlmodel import Session, select
from sqlmodel.sql.expression import SelectOfScalar

T = TypeVar("T")


def page_of(
    session: Session,
    query: SelectOfScalar[T],
    where: list[Any],
    order_by: list[Any],
    offset: int,
    limit: int,
) -> tuple[list[T], int]:
    """Rows ``offset .. offset+limit`` of ``query`` filtered by ``where`` (ties broken by the
    caller's ``order_by``, so pages are stable), and how many rows match in all."""
    filtered = query.where(*where)
    total = session.exec(select(func.count()).select_from(filtered.subquery())).one()
    rows = session.exec(filtered.order_by(*order_by).offset(offset).limit(limit)).all()
    return list(rows), int(total)
