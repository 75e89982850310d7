"""Failed-login limits per account and per client address, kept in the broker.

A fixed window starts at the first failure. Once either counter has reached its
limit, every login for that account (or from that address) is refused with 429
until the window ends — even with the right password, which is checked only
after this gate. A successful login resets neither counter. When the broker is
unreachable the limiter fails open (logs a warning) so that logins keep working.
"""

from __future__ import annotations

import logging

from qoach.broker import Broker, BrokerUnavailable
from qoach.config import Settings
from qoach.errors import RateLimited

logger = logging.getLogger("qoach.auth")


def account_key(email: str) -> str:
    return f"login:acct:{email.strip().lower()}"


def address_key(address: str) -> str:
    return f"login:addr:{address}"


class LoginRateLimiter:
    def __init__(self, broker: Broker, settings: Settings) -> None:
        self.broker = broker
        self.settings = settings

    def _limits(self, email: str, address: str | None) -> list[tuple[str, int]]:
        limits = [(account_key(email), self.settings.login_max_failures_per_account)]
        if address:
            limits.append((address_key(address), self.settings.login_max_failures_per_address))
        return limits

    async def check(self, email: str, address: str | None) -> None:
        """Raise RateLimited when the account or the address is over its limit."""
        retry_after = 0
        try:
            for key, limit in self._limits(email, address):
                count, ttl = await self.broker.counter_get(key)
                if count >= limit:
                    retry_after = max(retry_after, ttl)
        except BrokerUnavailable as exc:
            logger.warning("login rate limit not checked (broker unavailable): %s", exc)
            return
        if retry_after:
            raise RateLimited(retry_after, "Too many failed logins; try again later")

    async def record_failure(self, email: str, address: str | None) -> None:
        window = self.settings.login_failure_window_seconds
        try:
            for key, _ in self._limits(email, address):
                await self.broker.counter_incr(key, window)
        except BrokerUnavailable as exc:
            logger.warning("failed login not counted (broker unavailable): %s", exc)
