"""The bodies of the letter and commitment steps, one model each, read the same way from an API
JSON body and from a console form — so text rules (no control characters, not blank) hold
whichever door a person comes through."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from services.core.text import Text
from services.cycle.carried_items import Decision
from services.cycle.contracts import Confirmation
from services.cycle.plan import ItemTemplate


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content_hash: str = Field(min_length=64, max_length=64, pattern="^[0-9a-f]{64}$")


class ReturnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Text = Field(min_length=1, max_length=4000)


class ItemEdit(ItemTemplate):
    """An item as in the plan; with ``item_id`` it replaces that item, without it it is added."""

    item_id: str | None = Field(default=None, max_length=200)


class CarriedDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Decision


class AmendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[ItemEdit] = Field(min_length=1, max_length=200)
    reason: Text = Field(default="", max_length=4000)


class CommitmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Text = Field(min_length=1, max_length=4000)
    item_ids: list[str] = Field(min_length=1, max_length=200)


class CommitmentReturnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Text = Field(min_length=1, max_length=4000)


class ResubmitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Text | None = Field(default=None, min_length=1, max_length=4000)
    item_ids: list[str] | None = Field(default=None, min_length=1, max_length=200)


class ConfirmationIn(BaseModel):
    """The issuer's word on an achievement reported on an item."""

    model_config = ConfigDict(extra="forbid")
    decision: Confirmation
    reason: Text = Field(default="", max_length=2000)  # required when rejecting
