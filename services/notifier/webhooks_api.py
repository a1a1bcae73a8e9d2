"""The admin API of webhook subscriptions: create (the generated secret is shown once), list,
remove, rotate the secret; the deliveries, and redrive of dead-lettered ones. Admins only: any
other role gets 403 whatever the id, and an unknown id 404."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from leadrelay.services.notifier.subscriptions import (
    MAX_URL_CHARS,
    create_subscription,
    delivery_view,
    redrive,
    remove_subscription,
    rotate_secret,
    subscription_view,
)
from leadrelay.services.notifier.targets import EVENT_TYPES
from leadrelay.shared.link_secret import link_secret
from leadrelay.shared.problems import Forbidden
from leadrelay.shared.secret_box import SecretBox
from leadrelay.shared.security import Principal
from leadrelay.shared.web.content_types import JsonBodyRoute
from leadrelay.shared.web.deps import ClockDep, PrincipalDep, SettingsDep, StoreDep
from leadrelay.shared.web.openapi import problems

EventType = Literal["lead.assigned", "lead.activity", "lead.sla", "lead.recycled", "person.merged", "person.erased"]
assert set(EventType.__args__) == set(EVENT_TYPES)  # type: ignore[attr-defined]
DeliveryState = Literal["pending", "sending", "delivered", "skipped", "dead", "cancelled"]


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=8, max_length=MAX_URL_CHARS, description="The receiver: an http(s) URL "
                     "(for a CRM connector, the API's base URL).", examples=["https://crm.example.com/hooks/leadrelay"])
    events: list[EventType] = Field(min_length=1, max_length=len(EVENT_TYPES),
                                    description="The event types to receive.", examples=[["lead.assigned"]])
    target: str = Field(default="webhook", max_length=30, description="`webhook` (Standard Webhooks), or a "
                        "CRM connector's name.")
    secret: str | None = Field(default=None, max_length=2000, repr=False, description="Leave it out for a "
                               "webhook: a whsec_ secret is made and shown once. A connector's credential.")
    config: dict[str, Any] = Field(default_factory=dict, description="A connector's settings.")


def admin_only(principal: Principal) -> None:
    if principal.role != "admin":
        raise Forbidden("Webhook subscriptions need an admin token.",
                        errors=[{"field": "Authorization", "reason": f"role {principal.role} not allowed"}])


async def secret_box(settings: SettingsDep) -> SecretBox:
    return SecretBox(link_secret(settings))


BoxDep = Annotated[SecretBox, Depends(secret_box)]


def webhooks_router() -> APIRouter:
    router = APIRouter(tags=["webhooks"], route_class=JsonBodyRoute)

    @router.post("/v1/webhooks", status_code=201)
    async def add_webhook(body: SubscriptionIn, store: StoreDep, box: BoxDep, principal: PrincipalDep) -> dict[str, Any]:
        """Subscribe a URL to lead events. A webhook's signing secret (whsec_…) is in this answer only."""
        admin_only(principal)
        created = await create_subscription(store, box, url=body.url, events=body.events, target=body.target,
                                            secret=body.secret, config=body.config)
        view = subscription_view(created.subscription)
        return {**view, "secret": created.secret} if created.secret else view

    @router.get("/v1/webhooks")
    async def list_webhooks(store: StoreDep, principal: PrincipalDep,
                            include_removed: bool = False) -> dict[str, Any]:
        """The subscriptions (never their secrets)."""
        admin_only(principal)
        async with store.read() as uow:
            found = await uow.subscriptions.list(include_removed=include_removed)
        return {"webhooks": [subscription_view(s) for s in found]}

    @router.delete("/v1/webhooks/{subscription_id}")
    async def remove_webhook(subscription_id: str, store: StoreDep, principal: PrincipalDep) -> dict[str, Any]:
        """Stop a subscription; its waiting and dead-lettered deliveries are cancelled."""
        admin_only(principal)
        cancelled = await remove_subscription(store, subscription_id)
        return {"id": subscription_id, "removed": True, "cancelled_deliveries": cancelled}

    @router.post("/v1/webhooks/{subscription_id}/rotate-secret",
                 responses=problems(409, s409="A CRM connector's credential is not rotated here."))
    async def rotate_webhook_secret(subscription_id: str, store: StoreDep, box: BoxDep,
                                    principal: PrincipalDep) -> dict[str, Any]:
        """A new signing secret, shown once; the old one keeps signing beside it for 24 hours."""
        admin_only(principal)
        return {"id": subscription_id, "secret": await rotate_secret(store, box, subscription_id)}

    @router.get("/v1/webhook-deliveries")
    async def list_deliveries(store: StoreDep, principal: PrincipalDep, subscription: str | None = None,
                              state: DeliveryState | None = None,
                              limit: int = Query(default=100, ge=1, le=1000)) -> dict[str, Any]:
        """Webhook deliveries, newest first (``state=dead``: the dead-lettered ones)."""
        admin_only(principal)
        async with store.read() as uow:
            found = await uow.webhook_deliveries.list(subscription_id=subscription,
                                                      states=(state,) if state else (), limit=limit)
        return {"deliveries": [delivery_view(d) for d in found]}

    @router.post("/v1/webhook-deliveries/{delivery_id}/redrive",
                 responses=problems(409, s409="The delivery is not dead-lettered, or its subscription was removed."))
    async def redrive_delivery(store: StoreDep, clock: ClockDep,
                               principal: PrincipalDep,
                               delivery_id: int = Path(ge=1, le=2**63 - 1)) -> dict[str, Any]:
        """Send a dead-lettered delivery again, from its first attempt."""
        admin_only(principal)
        return delivery_view(await redrive(store, delivery_id, clock()))

    return router
