"""Typed FastAPI dependencies: what a route may ask for (the store, the clock, the caller, …).

The composition root puts the running process's ports on ``app.state.runtime``; routes name the
one they use (``store: StoreDep``), so a route's signature says what it touches.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from leadrelay.shared.clock import Clock
from leadrelay.shared.metrics import Metrics
from leadrelay.shared.ports import Bus, Store, StoreUnavailable
from leadrelay.shared.problems import ServiceUnavailable, Unauthorized
from leadrelay.shared.runtime import Runtime
from leadrelay.shared.security import SOURCE_KEY_PREFIX, TOKEN_PREFIX, Principal, hash_secret
from leadrelay.shared.settings import Settings

# The dependencies below are ``async def`` though they do not await: FastAPI runs a plain ``def``
# dependency in a worker thread, a thread hop per dependency per request (a quarter of intake's
# CPU before, bench/README.md), for what is an attribute read.


def runtime_of(request: Request) -> Runtime:
    return request.app.state.runtime


async def get_runtime(request: Request) -> Runtime:
    return runtime_of(request)


async def get_store(request: Request) -> Store:
    return runtime_of(request).store


async def get_clock(request: Request) -> Clock:
    return runtime_of(request).clock


async def get_metrics(request: Request) -> Metrics:
    return runtime_of(request).metrics


async def get_settings(request: Request) -> Settings:
    return runtime_of(request).settings


async def get_bus(request: Request) -> Bus:
    return runtime_of(request).bus


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]  # for use cases that take every port (intake)
StoreDep = Annotated[Store, Depends(get_store)]
ClockDep = Annotated[Clock, Depends(get_clock)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
BusDep = Annotated[Bus, Depends(get_bus)]


def bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthorized(
            "Send a source API key or a token as 'Authorization: Bearer <key>'.",
            errors=[{"field": "Authorization", "reason": "missing bearer credential"}],
            headers={"WWW-Authenticate": "Bearer"},
        )
    return credential.strip()


async def authenticate(request: Request, store: StoreDep) -> Principal:
    credential = bearer(request)
    digest = hash_secret(credential)
    try:
        async with store.read() as uow:
            if credential.startswith(SOURCE_KEY_PREFIX):
                row = await uow.sources.by_key_hash(digest)
                if row is not None:
                    return Principal(role="source", name=row.name)
            elif credential.startswith(TOKEN_PREFIX):
                row = await uow.tokens.by_hash(digest)
                if row is not None:
                    return Principal(role=row.role, name=row.rep_id, rep_id=row.rep_id)
    except StoreUnavailable as exc:
        raise ServiceUnavailable("The credential store is unavailable; retry later.",
                                 headers={"Retry-After": "5"}) from exc
    raise Unauthorized("Unknown or revoked credential.", errors=[{"field": "Authorization", "reason": "invalid key"}],
                       headers={"WWW-Authenticate": "Bearer"})


PrincipalDep = Annotated[Principal, Depends(authenticate)]
