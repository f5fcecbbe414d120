"""The list envelope every collection endpoint returns."""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class PageRequest(Protocol):
    @property
    def page(self) -> int: ...

    @property
    def page_size(self) -> int: ...


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int

    @classmethod
    def of(cls, items: list[T], total: int, asked: PageRequest) -> Page[T]:
        return cls(items=items, total=total, page=asked.page, page_size=asked.page_size)


class CursorPage(Page[T], Generic[T]):
    """A page that also names the next one by position-free cursor: ``?after=<next_after>``
    reads the rows after this page's last, as fast however deep (None: this page is the last)."""

    next_after: str | None = None
