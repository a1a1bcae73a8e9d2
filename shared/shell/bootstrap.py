"""The composition root: the one place that picks adapters and wires services to them.

Services depend on ``shared``'s contracts and ports; only this module imports them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn
from fastapi import FastAPI

from leadrelay.services.intake.api import intake_router
from leadrelay.services.intake.lead_sync_api import lead_sync_router
from leadrelay.services.notifier.handler import NotifierHandler
from leadrelay.services.notifier.line import NotifierLine
from leadrelay.services.notifier.sender import ChatSender
from leadrelay.services.notifier.webhook_handler import WebhookFanout
from leadrelay.services.notifier.webhook_sender import WebhookSender
from leadrelay.services.notifier.webhooks_api import webhooks_router
from leadrelay.services.router.api import admin_router, leads_router, work_router
from leadrelay.services.router.chat_api import chat_actions_router
from leadrelay.services.router.handler import RouterHandler
from leadrelay.services.router.hubspot_api import hubspot_router
from leadrelay.services.router.integrations_api import integrations_router
from leadrelay.services.router.reports_api import reports_router
from leadrelay.services.router.salesforce_api import salesforce_router
from leadrelay.services.router.scheduler import SlaScheduler
from leadrelay.services.scoring.api import people_router
from leadrelay.services.scoring.handler import ScoringHandler
from leadrelay.services.scoring.privacy_api import privacy_router
from leadrelay.shared import topics
from leadrelay.shared.adapters.local_bus import LocalBus
from leadrelay.shared.adapters.sql.store import SqlStore
from leadrelay.shared.clock import Clock, system_clock
from leadrelay.shared.link_secret import link_secret, link_settings
from leadrelay.shared.metrics import Metrics
from leadrelay.shared.policy import load_policy
from leadrelay.shared.ports import Bus
from leadrelay.shared.runtime import Runtime
from leadrelay.shared.secret_box import SecretBox
from leadrelay.shared.security import SOURCE_KEY_PREFIX, hash_secret, new_secret, visible_prefix
from leadrelay.shared.settings import Settings
from leadrelay.shared.shell.app import create_app
from leadrelay.shared.shell.consumer import ConsumerRunner, ConsumerSpec
from leadrelay.shared.shell.telemetry import otlp_tracer_provider, tracing_for

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger(__name__)

SERVICES = ("intake", "scoring", "router", "notifier", "relay")


def bundled_policy_text() -> str:
    return resources.files("leadrelay.shared").joinpath("example_policy.yaml").read_text(encoding="utf-8")


def build_bus(settings: Settings, store: SqlStore) -> Bus:
    if settings.mode == "embedded":
        return LocalBus(store)
    from leadrelay.shared.adapters.kafka_bus import KafkaBus

    return KafkaBus(settings.kafka_bootstrap, partitions=settings.kafka_partitions, prefix=settings.topic_prefix)


def build_runtime(settings: Settings, clock: Clock = system_clock, *, service: str = "leadrelay",
                  tracer_provider: TracerProvider | None = None) -> Runtime:
    """The one clock goes to the store and to every service: stored and compared times agree.
    Spans go to ``tracer_provider``, else over OTLP as ``service`` when OTEL_EXPORTER_OTLP_ENDPOINT
    is set (``telemetry``), else nowhere."""
    store = SqlStore(settings.sqlalchemy_url, clock=clock)
    if tracer_provider is None:
        tracer_provider = otlp_tracer_provider(service, os.environ)
    tracer, flush_traces = tracing_for(tracer_provider)
    return Runtime(settings=settings, store=store, bus=build_bus(settings, store), metrics=Metrics(), clock=clock,
                   tracer=tracer, flush_traces=flush_traces)


def build_app(runtime: Runtime) -> FastAPI:
    # Imported here: the console's pages call this module's use cases (sources, policy).
    from leadrelay.shared.shell.console import console_routers, install_console

    app = create_app(runtime, [intake_router(), lead_sync_router(), people_router(), privacy_router(), leads_router(), work_router(), admin_router(), chat_actions_router(),
                               reports_router(), webhooks_router(), integrations_router(), hubspot_router(), salesforce_router(),
                               *console_routers()])
    install_console(app)  # the console's "sign in first" redirect and its 403 pages
    return app


def _nothing() -> None:
    return None


def consumer_specs(runtime: Runtime, wake_sender: Callable[[], None],
                   wake_webhooks: Callable[[], None] = _nothing) -> dict[str, ConsumerSpec]:
    handlers = {
        "scoring": ScoringHandler(runtime.metrics, runtime.clock),
        "router": RouterHandler(runtime.metrics, runtime.clock),
        # Chat messages and webhook deliveries: one group (``services/notifier/line.py``).
        "notifier": NotifierLine(NotifierHandler(runtime.settings.base_url, wake_sender,
                                                 link_settings(runtime.settings)), WebhookFanout(wake_webhooks)),
    }
    return {name: ConsumerSpec(name, topics.CONSUMERS[name], handler) for name, handler in handlers.items()}


async def ensure_topics(runtime: Runtime) -> None:
    if runtime.settings.mode == "distributed":
        await runtime.bus.ensure_topics(topics.all_topics())  # type: ignore[attr-defined]


async def apply_policy(runtime: Runtime, text: str, created_by: str = "cli") -> tuple[int, bool]:
    load_policy(text)  # refuse an invalid document before it becomes a version
    async with runtime.store.transaction() as uow:
        return await uow.policies.store(text, created_by)


class SourceExists(Exception):
    """An active source has this name already (rotate its key, or revoke it first)."""


async def create_source(runtime: Runtime, name: str, kind: str = "api", config: dict | None = None) -> str:
    """Creates a source and returns its key (stored only as a hash). A revoked source's name is
    reused: the leads recorded under it keep their source. Raises SourceExists for an active one."""
    key = new_secret(SOURCE_KEY_PREFIX)
    async with runtime.store.transaction() as uow:
        existing = await uow.sources.by_name(name)
        if existing is None:
            await uow.sources.add(name, kind, hash_secret(key), visible_prefix(key), config or {})
        elif not await uow.sources.reuse(name, kind, hash_secret(key), visible_prefix(key), config or {}):
            raise SourceExists(name)
    return key


async def create_integration_source(runtime: Runtime, name: str) -> tuple[str, str]:
    """An ``integration`` source (a CRM reporting activity, ``POST /v1/integrations/activity``):
    returns its API key and its ``whsec_`` signing secret, both shown once (the secret is stored
    sealed). Raises SourceExists."""
    from leadrelay.services.router.integrations_api import INTEGRATION, SIGNING_SECRET
    from leadrelay.shared.signed_webhooks import new_secret as new_signing_secret

    signing_secret = new_signing_secret()
    sealed = SecretBox(link_secret(runtime.settings)).seal(signing_secret)
    return await create_source(runtime, name, INTEGRATION, {SIGNING_SECRET: sealed}), signing_secret


async def rotate_source_key(runtime: Runtime, name: str) -> str | None:
    """Gives an active source a new key and returns it; the old key is refused from the commit on.
    The source keeps its name, kind and settings, so its leads keep their source. None when no
    active source has the name."""
    key = new_secret(SOURCE_KEY_PREFIX)
    async with runtime.store.transaction() as uow:
        if not await uow.sources.rotate_key(name, hash_secret(key), visible_prefix(key)):
            return None
    return key


async def prepare_embedded(runtime: Runtime, policy_file: Path | None) -> tuple[int, str | None]:
    """Creates the schema, applies the policy, and on first start makes a demo source.

    Returns (policy version, the demo key if one was just created)."""
    await runtime.store.create_schema()
    text = policy_file.read_text(encoding="utf-8") if policy_file else None
    async with runtime.store.read() as uow:
        current = await uow.policies.current()
        sources = await uow.sources.list()
    if text is not None or current is None:
        version, _ = await apply_policy(runtime, text or bundled_policy_text(), "leadrelay run")
    else:
        version = current[0]
    demo_key = None if sources else await create_source(runtime, "demo")
    return version, demo_key


async def run_services(runtime: Runtime, services: tuple[str, ...], stop: asyncio.Event,
                       app: FastAPI | None = None, port: int | None = None) -> None:
    """Runs the named services in this process until ``stop`` is set."""
    await runtime.bus.start()
    await ensure_topics(runtime)
    sender = ChatSender(runtime.store, runtime.metrics, runtime.clock,
                        timeout_s=runtime.settings.notify_timeout_s,
                        max_attempts=runtime.settings.notify_max_attempts, tracer=runtime.tracer)
    webhook_sender = WebhookSender(runtime.store, runtime.metrics, runtime.clock,
                                   SecretBox(link_secret(runtime.settings)),
                                   timeout_s=runtime.settings.webhook_timeout_s,
                                   max_attempts=runtime.settings.webhook_max_attempts)
    specs = consumer_specs(runtime, sender.wake, webhook_sender.wake)
    jobs: list[Awaitable[None]] = []
    for name in services:
        if name in specs:
            runner = ConsumerRunner(specs[name], runtime.bus, runtime.store, runtime.metrics,
                                    runtime.settings.consumer_max_retries,
                                    runtime.settings.chaos_kill_before_offset_commit, tracer=runtime.tracer)
            jobs.append(runner.run(stop))
        if name == "notifier":
            jobs.append(sender.run(stop))
            jobs.append(webhook_sender.run(stop))
        if name == "router":
            jobs.append(SlaScheduler(runtime.store, runtime.metrics, runtime.clock).run(stop))
    # In distributed mode every service that writes the outbox also relays it (right after its
    # own commits); ``serve relay`` runs a relay alone, as the safety net for the others.
    if runtime.settings.mode == "distributed" and set(services) & {"scoring", "router", "notifier", "relay"}:
        from leadrelay.shared.adapters.outbox_relay import OutboxRelay

        jobs.append(OutboxRelay(runtime.store, runtime.bus, runtime.metrics).run(stop))
    server = None
    if app is not None:
        # httptools named, not left to "auto": a missing one is an error, not a slower server.
        config = uvicorn.Config(app, host=runtime.settings.host, port=port or runtime.settings.port, log_config=None,
                                http="httptools", lifespan="off", access_log=False)
        server = uvicorn.Server(config)
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]

        async def serve() -> None:
            await server.serve()
            stop.set()

        async def shutdown_on_stop() -> None:
            await stop.wait()
            server.should_exit = True

        jobs += [serve(), shutdown_on_stop()]
    try:
        async with asyncio.TaskGroup() as group:
            for job in jobs:
                group.create_task(job)
    finally:
        await runtime.bus.stop()
        await runtime.store.dispose()
        await asyncio.to_thread(runtime.flush_traces)  # the last spans, before the process ends


def install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
