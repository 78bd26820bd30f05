from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from api.schemas.common import Id, Input, Timestamp, Url

CopyState = Literal["available", "on_loan", "on_hold_shelf", "repair", "lost", "withdrawn"]
Tag = Annotated[str, Field(min_length=1, max_length=16)]
Age = Annotated[int, Field(ge=0, le=18)]


class _Ages(Input):
    @model_validator(mode="after")
    def _ordered(self) -> _Ages:
        low, high = getattr(self, "age_min", None), getattr(self, "age_max", None)
        if low is not None and high is not None and low > high:
            raise ValueError("age_min：最小年龄不能大于 age_max")
        return self


class BookCreate(_Ages):
    title: str = Field(min_length=1, max_length=128)
    isbn: str | None = Field(default=None, max_length=32, description="ISBN-10 或 ISBN-13，可带连字符；存为 ISBN-13")
    author: str = Field(default="", max_length=128)
    publisher: str = Field(default="", max_length=128)
    year: int | None = Field(default=None, ge=1900, le=2100)
    cover_url: Url | None = None
    age_min: Age | None = Field(default=None, description="适读年龄段")
    age_max: Age | None = None
    tags: list[Tag] = Field(default=[], max_length=10)
    summary: str = Field(default="", max_length=5000)


class BookUpdate(_Ages):
    title: str | None = Field(default=None, min_length=1, max_length=128)
    isbn: str | None = Field(default=None, max_length=32)
    author: str | None = Field(default=None, max_length=128)
    publisher: str | None = Field(default=None, max_length=128)
    year: int | None = Field(default=None, ge=1900, le=2100)
    cover_url: Url | None = None
    age_min: Age | None = None
    age_max: Age | None = None
    tags: list[Tag] | None = Field(default=None, max_length=10)
    summary: str | None = Field(default=None, max_length=5000)


class BookItem(BaseModel):
    id: int
    title: str
    author: str
    isbn: str | None
    cover_url: str | None
    age_min: int | None
    age_max: int | None
    tags: list[str]
    copies: int
    available: int = Field(description="在架可借的册数")
    holds: int = Field(description="排队预约的人数")


class CopyRead(BaseModel):
    id: int
    state: CopyState
    location: str
    barcode: str | None = Field(default=None, description="社工可见")
    condition: str | None = None
    donated_by: str | None = None


class HouseholdLoanRef(BaseModel):
    loan_id: int
    due_at: Timestamp
    member_name: str


class HouseholdHoldRef(BaseModel):
    hold_id: int
    status: Literal["waiting", "ready"]
    member_name: str


class HouseholdRefs(BaseModel):
    loans: list[HouseholdLoanRef]
    holds: list[HouseholdHoldRef]


class BookDetail(BookItem):
    publisher: str
    year: int | None
    summary: str
    copies_detail: list[CopyRead]
    mine: HouseholdRefs = Field(description="本户借着或预约着这本书的情况")


class CopyCreate(Input):
    barcode: str = Field(min_length=1, max_length=64)
    location: str = Field(default="", max_length=64)
    condition: str = Field(default="", max_length=64)
    donated_by: str = Field(default="", max_length=64)
    space_id: Id | None = None


class CopyUpdate(Input):
    state: Literal["available", "repair", "lost", "withdrawn"] | None = None
    location: str | None = Field(default=None, max_length=64)
    condition: str | None = Field(default=None, max_length=64)


class CopyStateRead(BaseModel):
    id: int
    book_id: int
    title: str
    barcode: str
    state: CopyState
    location: str
    condition: str
    since: Timestamp


class BorrowRequest(Input):
    barcode: str = Field(min_length=1, max_length=64, description="扫到的条码")
    member_id: Id = Field(description="借给谁（孩子的书记在孩子名下）")


class ReturnRequest(Input):
    barcode: str = Field(min_length=1, max_length=64)


class HoldRequest(Input):
    member_id: Id


class BookRef(BaseModel):
    id: int
    title: str
    cover_url: str | None


class MemberRef(BaseModel):
    id: int
    name: str


class NextPlace(BaseModel):
    to: Literal["shelf", "hold_shelf"]
    hold_id: int | None
    member_name: str | None


class LoanRead(BaseModel):
    id: int
    book: BookRef
    barcode: str
    member: MemberRef
    borrowed_at: Timestamp
    due_on: date
    due_at: Timestamp
    overdue: bool
    days_overdue: int
    renewals_left: int
    returned_at: Timestamp | None
    lost: bool = Field(default=False, description="这册书遗失，借阅已结清")
    next: NextPlace | None = Field(default=None, description="还书时：这册书接下来放哪里")


class HoldRead(BaseModel):
    id: int
    book: BookRef
    member: MemberRef
    status: Literal["waiting", "ready", "fulfilled", "cancelled", "expired"]
    position: int | None = Field(description="排第几（等待中时）")
    placed_at: Timestamp
    ready_at: Timestamp | None
    expires_at: Timestamp | None


class Shelf(BaseModel):
    loans: list[LoanRead]
    holds: list[HoldRead]
    next_cursor: str | None = None


class ImportSummary(BaseModel):
    rows: int
    books_created: int
    books_existing: int
    copies_created: int
    copies_existing: int


class LoanPolicyRead(BaseModel):
    loan_days: int
    max_loans: int
    child_loan_days: int | None
    child_max_loans: int | None
    renewals: int
    hold_shelf_days: int
    max_holds: int


class LoanPolicyUpdate(Input):
    loan_days: int | None = Field(default=None, ge=1, le=120)
    max_loans: int | None = Field(default=None, ge=1, le=50)
    child_loan_days: int | None = Field(default=None, ge=1, le=120)
    child_max_loans: int | None = Field(default=None, ge=1, le=50)
    renewals: int | None = Field(default=None, ge=0, le=10)
    hold_shelf_days: int | None = Field(default=None, ge=1, le=30)
    max_holds: int | None = Field(default=None, ge=0, le=20)


class OverdueRead(BaseModel):
    loan_id: int
    title: str
    barcode: str
    member_name: str
    household: str
    due_on: date
    days_overdue: int


class HoldShelfRead(BaseModel):
    hold_id: int
    title: str
    barcode: str
    member_name: str
    household: str
    ready_at: Timestamp | None
    pickup_by: date | None


class CirculationMonth(BaseModel):
    month: str
    loans: int
    returns: int
    borrowers: int
    households: int
