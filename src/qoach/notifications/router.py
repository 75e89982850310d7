"""The inbox over REST, the real-time stream over a WebSocket.

The router also carries the notifications lifespan (the reminder scheduler): FastAPI
merges an included router's lifespan into the app's, inside `main.lifespan`, so the
engine and broker exist when it starts.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, WebSocket

from qoach.auth.dependencies import CurrentUser
from qoach.broker import BrokerDep
from qoach.db.session import SessionDep
from qoach.notifications import service, ws
from qoach.notifications.scheduler import lifespan
from qoach.notifications.schemas import NotificationPage, NotificationRead, ReadAllResult
from qoach.pagination import PageDep

router = APIRouter(tags=["notifications"], lifespan=lifespan)

_ERROR = {"description": "`{detail, code}`"}
_401: dict[int | str, dict[str, Any]] = {401: {**_ERROR, "description": "No or bad token"}}
_404: dict[int | str, dict[str, Any]] = {
    404: {**_ERROR, "description": "No such notification of the caller"}
}

NotificationId = Annotated[int, Path(ge=1, le=2_147_483_647, description="Notification id")]


@router.get(
    "/users/me/notifications",
    response_model=NotificationPage,
    status_code=200,
    summary="List my notifications (newest first)",
    description=(
        "`unread_count` counts the caller's unread notifications over all pages.\n\n"
        "**Real time**: `WS /ws/notifications?token=<access token>` (or the subprotocol "
        'pair `["bearer", "<token>"]`) pushes JSON frames `{"type", "data"}`: '
        "`notification` (this object) for every new one, `read` (`{ids}`) for reads done "
        "on any device, and `ping` every 25 s. `?since=<id>` first replays the ones "
        "created after that id (up to 1,000, then `replay_truncated` with `{last_id}`). "
        "An open socket misses nothing when Redis is down: it polls the database every "
        "few seconds and catches up once Redis is back, never sending one twice. "
        "Close codes: 4401 bad, missing or revoked token (logout, password change, "
        "account deletion); 4403 `Origin` not in `BACKEND_CORS_ORIGINS`; 1008 bad "
        "`since` or too many client messages (over 60 a minute); 1009 client message "
        "over 4 KiB; 1013 database unavailable; 1001 server shutting down."
    ),
    responses=_401,
)
async def list_my_notifications(
    session: SessionDep,
    user: CurrentUser,
    page: PageDep,
    unread_only: Annotated[bool, Query(description="Only unread notifications.")] = False,
) -> NotificationPage:
    return await service.list_notifications(session, user.id, page, unread_only=unread_only)


@router.post(
    "/notifications/{notification_id}/read",
    response_model=NotificationRead,
    status_code=200,
    summary="Mark one of my notifications read",
    description="Idempotent. The user's open sockets receive a `read` message.",
    responses={**_401, **_404},
)
async def mark_notification_read(
    notification_id: NotificationId, session: SessionDep, broker: BrokerDep, user: CurrentUser
) -> NotificationRead:
    return await service.mark_read(session, broker, user.id, notification_id)


@router.post(
    "/users/me/notifications/read-all",
    response_model=ReadAllResult,
    status_code=200,
    summary="Mark all my notifications read",
    description="`updated` counts the ones that were unread. Open sockets receive a `read` "
    "message with their ids.",
    responses=_401,
)
async def mark_all_notifications_read(
    session: SessionDep, broker: BrokerDep, user: CurrentUser
) -> ReadAllResult:
    return await service.mark_all_read(session, broker, user.id)


@router.websocket("/ws/notifications", name="notifications_socket")
async def notifications_socket(websocket: WebSocket) -> None:
    """Real-time stream; see `qoach.notifications.ws` for the protocol."""
    await ws.serve(websocket)
