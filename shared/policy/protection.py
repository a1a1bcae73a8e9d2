"""The protection period (保护期 / 防撞单): how long a rep keeps a person they are working. Pure.

    protection: {days: 30, extend_per_activity_days: 7, max_days: 90}

A rep given a person (routed, claimed, reassigned) keeps them ``days``; each activity of theirs
on the person's leads (accepted, contacted, converted) keeps them at least
``extend_per_activity_days`` after it; never more than ``max_days`` after the period began
(no limit without ``max_days``). The
arithmetic over stored times is the router's (``services/router/protection.py``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import Field, model_validator

from leadrelay.shared.policy.values import Section, problems_error

__all__ = ["ProtectionPolicy"]

Days = Annotated[int, Field(strict=True, ge=0, le=3650)]


class ProtectionPolicy(Section):
    days: Annotated[int, Field(strict=True, ge=1, le=3650)]
    extend_per_activity_days: Days = 0
    max_days: Days | None = None  # None: no limit (working the person keeps them)

    @model_validator(mode="after")
    def _max_covers_the_period(self) -> ProtectionPolicy:
        if self.max_days is not None and self.max_days < self.days:
            raise problems_error([("max_days", f"must be at least days ({self.days})")])
        return self

    @property
    def period(self) -> timedelta:
        return timedelta(days=self.days)

    @property
    def extension(self) -> timedelta:
        return timedelta(days=self.extend_per_activity_days)

    @property
    def longest(self) -> timedelta | None:
        return None if self.max_days is None else timedelta(days=self.max_days)
