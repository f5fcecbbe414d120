"""The evaluation's tables.

Anonymity is a property of the schema: who was invited and whether they voted
(``evaluation_invitations``) lives apart from what was voted (``evaluation_ballots``), and a
ballot carries no rater, no account, no time finer than the day and a random id — so nothing,
admins included, can pair a rater with a ballot through the service.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from services.core.clock import utcnow


class Evaluation(SQLModel, table=True):
    __tablename__ = "evaluations"

    id: str = Field(primary_key=True, max_length=40)
    cycle_id: str = Field(max_length=80, index=True)
    kind: str = Field(max_length=20)
    title: str = Field(max_length=300)
    under_org_id: str = Field(max_length=64)
    under_path: str = Field(max_length=2000, index=True)
    levels: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    rubric: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    groups: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    weights: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    opens_on: date
    rating_deadline: date
    debriefing_due: date | None = None
    phase: str = Field(default="open", max_length=20)  # open rating calibration published closed
    organizer_account_id: str = Field(max_length=64)
    organizer_person_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    rating_closed_at: datetime | None = None
    published_at: datetime | None = None


class EvaluationSubject(SQLModel, table=True):
    __tablename__ = "evaluation_subjects"
    __table_args__ = (
        UniqueConstraint("evaluation_id", "org_id", name="uq_evaluation_subject"),
        UniqueConstraint("public_code", name="uq_evaluation_public_code"),
    )

    id: int | None = Field(default=None, primary_key=True)
    evaluation_id: str = Field(foreign_key="evaluations.id", index=True, max_length=40)
    org_id: str = Field(max_length=64)
    org_name: str = Field(max_length=200)
    org_path: str = Field(max_length=2000)
    level: int
    head_person_id: str | None = Field(default=None, max_length=64)
    public_code: str = Field(max_length=40)  # the public's ballot link for this subject
    debriefing: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    debriefing_evidence: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    debriefing_at: datetime | None = None
    # calibration entries: [{kind, points, reason}], set by the organizer before publication
    adjustments: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )


class EvaluationInvitation(SQLModel, table=True):
    """Who rates which subject in which group, and whether they have: participation only."""

    __tablename__ = "evaluation_invitations"
    __table_args__ = (
        UniqueConstraint(
            "evaluation_id", "subject_org_id", "group", "person_id", name="uq_evaluation_invite"
        ),
        Index("ix_evaluation_invitations_person", "evaluation_id", "person_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    evaluation_id: str = Field(foreign_key="evaluations.id", max_length=40)
    subject_org_id: str = Field(max_length=64)
    group: str = Field(max_length=20)
    person_id: str = Field(max_length=64)
    voted: bool = False
    # A hash of the voter's Idempotency-Key: a retry is recognised, the ballot stays unnamed.
    request_hash: str | None = Field(default=None, max_length=64)


class EvaluationBallot(SQLModel, table=True):
    """What was voted, by nobody in particular."""

    __tablename__ = "evaluation_ballots"
    __table_args__ = (Index("ix_evaluation_ballots_subject", "evaluation_id", "subject_org_id"),)

    id: str = Field(primary_key=True, max_length=40)  # random
    evaluation_id: str = Field(foreign_key="evaluations.id", max_length=40)
    subject_org_id: str = Field(max_length=64)
    group: str = Field(max_length=20)
    scores: dict[str, float] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    debriefing_rating: str | None = Field(default=None, max_length=20)
    comment: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    cast_on: date  # the day only


class EvaluationResult(SQLModel, table=True):
    """A subject's result: computed when rating closes (visible to the organizer), recomputed
    on calibration, frozen at publication. ``detail`` holds every figure the final stands on."""

    __tablename__ = "evaluation_results"
    __table_args__ = (UniqueConstraint("evaluation_id", "org_id", name="uq_evaluation_result"),)

    id: int | None = Field(default=None, primary_key=True)
    evaluation_id: str = Field(foreign_key="evaluations.id", index=True, max_length=40)
    org_id: str = Field(max_length=64)
    level: int
    final: float | None = None
    grade: str | None = Field(default=None, max_length=20)
    rank: int | None = None
    provisional: bool = False
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    computed_at: datetime = Field(default_factory=utcnow)
