from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from qoach.models import RequestStatus


class JoinRequestRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    company_id: int
    user_id: int
    status: RequestStatus
    created_at: datetime
