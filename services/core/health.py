"""Pure contracts of the deep readiness check: a round trip through a worker and its database."""

from __future__ import annotations

from pydantic import BaseModel

PING_WORKFLOW = "PingWorkflow"
CHECK_DATABASE_ACTIVITY = "check_database"


class PingInput(BaseModel):
    probe: str


class CheckDatabaseInput(BaseModel):
    probe: str


class CheckDatabaseResult(BaseModel):
    probe: str
    dialect: str
    worker_identity: str
