"""The SLA scheduler: fires due clock steps, in small batches, exactly once.

Clocks are rows. Each pass claims due ``pending`` steps (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so replicas share the work; SQLite's single writer serialises them) and, in the
same transaction, marks each fired and applies its effect: remind the owner, escalate to the
manager, reassign to the backup owner, or return the lead to the team pool; a held lead's
``hold`` step routes it when a covering rep comes on shift. A restart finds
the rows where it left them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from leadrelay.services.router.assignment import (
    HELD,
    HOLD_CLOCK,
    OPEN_STATES,
    RouterWork,
    emit_sla,
    reassign,
    recycle,
    sla_envelope,
)
from leadrelay.services.router.availability import IDLE, unavailability
from leadrelay.services.router.handler import held_scope, offer_scope, pass_offer_on, route_held
from leadrelay.services.router.routing import RoutingScope
from leadrelay.shared.clock import as_utc
from leadrelay.shared.events import Envelope
from leadrelay.shared.metrics import Metrics
from leadrelay.shared.policy import Policy
from leadrelay.shared.ports import ClockRecord, HistoryRow, LeadRecord, Store

log = logging.getLogger(__name__)

BATCH = 100
IDLE_WAIT_S = 0.5
# Counting open clocks scans an index of them all; a gauge does not need it twice a second.
BACKLOG_EVERY_S = 5.0


class SlaScheduler:
    def __init__(self, store: Store, metrics: Metrics, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.metrics = metrics
        self.clock = clock
        self._observed_at = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                fired = await self.fire_due()
            except Exception as exc:  # the database may be away; the rows wait for us
                log.warning("sla scheduler pass failed", extra={"error": type(exc).__name__})
                fired = 0
            if fired < BATCH:
                try:
                    await asyncio.wait_for(stop.wait(), IDLE_WAIT_S)
                except TimeoutError:
                    pass

    async def fire_due(self) -> int:
        """Fires every step due by now (in batches); returns how many steps it handled."""
        total = 0
        async with self.store.read() as uow:  # a cheap read first: most passes find nothing due
            due = await uow.clocks.any_due(self.clock())
        while due:
            now = self.clock()
            async with self.store.transaction() as uow:
                rows = await uow.clocks.claim_due(now, BATCH)
                current = await uow.policies.current() if rows else None
                leads = await uow.leads.by_ids([row.lead_id for row in rows], lock=True) if rows else {}
                batch = _Batch(uow, now)
                if current is not None:
                    scope = self._fairness_scope(rows, leads, current[1], now)
                    scope = scope.union(await held_scope(uow, current[1], rows, leads))
                    await uow.roster.lock(scope.reps, scope.cursors)
                observed = [await self._fire(batch, row, leads.get(row.lead_id), current) for row in rows]
                await batch.flush()
            for clock, step, team in observed:
                if step != "stale":
                    self.metrics.sla_steps.labels(clock, step).inc()
                if step == "escalate":
                    self.metrics.sla_breaches.labels(clock, team or "-").inc()
            total += len(rows)
            if len(rows) < BATCH:
                break
        if total or time.monotonic() - self._observed_at > BACKLOG_EVERY_S:
            await self._observe_backlog()
        return total

    async def _observe_backlog(self) -> None:
        self._observed_at = time.monotonic()
        now = self.clock()
        async with self.store.read() as uow:
            count, oldest_due = await uow.clocks.stats(now)
            current = await uow.policies.current()  # for the "no policy loaded" alert
        self.metrics.open_clocks.set(count)
        self.metrics.scheduler_lag.set((now - oldest_due).total_seconds() if oldest_due else 0.0)
        self.metrics.policy_version.set(current[0] if current else 0)

    async def _fire(self, batch: _Batch, row: ClockRecord, lead: LeadRecord | None, current: tuple[int, Policy] | None
                    ) -> tuple[str, str, str | None]:
        now, uow = batch.now, batch.uow
        if row.clock == HOLD_CLOCK:
            return await self._route_held(batch, row, lead, current)
        if (current is None or lead is None or lead.lead_id in batch.moved or lead.owner != row.owner
                or lead.state not in OPEN_STATES or (row.step == "offer_expired" and lead.state != "offered")):
            # The lead moved on (worked, closed, reassigned) after this step was planned.
            batch.marks["stale"].append(row.timer_id)
            return row.clock, "stale", None
        version, policy = current
        batch.marks["fired"].append(row.timer_id)
        due_at = as_utc(row.due_at)
        owner = row.owner
        manager = policy.manager_of(owner) if policy.has_rep(owner) else None
        team = policy.rep(owner).team if policy.has_rep(owner) else None
        label = row.clock.replace("_", " ")
        late = f"{label} due {due_at:%Y-%m-%d %H:%M} UTC"
        history = {"clock": row.clock, "step": row.step, "owner": owner, "due_at": due_at.isoformat()}
        if row.step == "remind":
            batch.history(lead, "sla_reminder", history)
            batch.emit(sla_envelope(lead, clock=row.clock, step="remind", owner=owner, notify=[owner], due_at=due_at,
                                    at=now, detail=f"Reminder: {late}."))
            return row.clock, row.step, team
        if row.step == "escalate":
            notify = [owner] + ([manager] if manager else [])
            batch.history(lead, "sla_breached", {**history, "escalated_to": manager})
            batch.emit(sla_envelope(lead, clock=row.clock, step="escalate", owner=owner, notify=notify,
                                    due_at=due_at, at=now,
                                    detail=f"SLA breached: {late}; escalated to {manager or 'nobody'}."))
            return row.clock, row.step, team
        # The rest change who owns the lead: write what is batched so far first, in order, and
        # let this lead's later steps in the batch go stale.
        await batch.flush()
        batch.moved.add(lead.lead_id)
        if row.step == "offer_expired":
            await pass_offer_on(uow, policy, version, lead, now)
        elif row.step == "reassign":
            # A lead that already changed hands once goes to the pool rather than bouncing
            # between a rep and their backup forever.
            backup = None if lead.previous_owner else self._available_backup(policy, owner, now)
            if backup:
                await reassign(uow, policy, version, lead, backup, now, reason="reassigned",
                               why=f"{label} not met by {owner}; reassigned to backup {backup}", by="sla",
                               backup_for=owner)
            else:
                await recycle(uow, policy, lead, now, f"{label} not met by {owner} and no backup available")
                await emit_sla(uow, lead, clock=row.clock, step="recycle", owner=owner,
                               notify=[owner] + ([manager] if manager else []), due_at=due_at, at=now,
                               detail=f"{label} not met and no backup available: returned to the pool.")
        else:  # the recycle clock's single step
            await recycle(uow, policy, lead, now, "unworked for too long")
            await emit_sla(uow, lead, clock=row.clock, step="recycle", owner=owner, notify=[owner], due_at=due_at,
                           at=now, detail="Unworked: returned to the team pool for someone else to claim.")
        return row.clock, row.step, team

    @staticmethod
    async def _route_held(batch: _Batch, row: ClockRecord, lead: LeadRecord | None,
                          current: tuple[int, Policy] | None) -> tuple[str, str, str | None]:
        """A held lead's shift has come: route it now. Once: a lead no longer held (a manager
        moved it, or another scheduler got here first) leaves the step stale."""
        if current is None or lead is None or lead.lead_id in batch.moved or lead.state != HELD:
            batch.marks["stale"].append(row.timer_id)
            return row.clock, "stale", None
        version, policy = current
        batch.marks["fired"].append(row.timer_id)
        await batch.flush()
        batch.moved.add(lead.lead_id)
        await route_held(batch.uow, policy, version, lead, batch.now)
        return row.clock, row.step, lead.team

    def _fairness_scope(self, rows: list[ClockRecord], leads: dict[str, LeadRecord], policy: Policy,
                        now: datetime) -> RoutingScope:
        """Every fairness row the batch's steps may touch, to lock at once before the first fires:
        steps that each locked their own rows would take them out of the lock order (lead by
        lead, not rep by rep), and two replicas could then wait on each other. Reminders and
        escalations touch none; a step that turns out stale just held its rows a little longer."""
        scope = RoutingScope()
        for row in rows:
            lead = leads.get(row.lead_id)
            if lead is None or row.step in ("remind", "escalate") or row.clock == HOLD_CLOCK:
                continue  # (a held lead's rows: held_scope)
            if row.step == "reassign":  # to the backup, else back to the pool
                scope = scope.with_reps(lead.owner, row.owner, self._available_backup(policy, row.owner, now))
            elif row.clock == "recycle":
                scope = scope.with_reps(lead.owner, row.owner)
            else:  # the offer lapsed (or any step that routes the lead again): its decision's pool
                scope = scope.union(offer_scope(policy, lead)).with_reps(row.owner)
        return scope

    @staticmethod
    def _available_backup(policy: Policy, owner: str, now: datetime) -> str | None:
        if not policy.has_rep(owner):
            return None
        backup = policy.rep(owner).backup
        if not backup or backup == owner or not policy.has_rep(backup):
            return None
        # Loads are not read here: a backup over capacity still beats a lead nobody works.
        return backup if unavailability(policy.rep(backup), policy, IDLE, now) is None else None


class _Batch:
    """What a batch of fired steps writes, in a handful of statements instead of four a step."""

    def __init__(self, uow: RouterWork, now: datetime) -> None:
        self.uow = uow
        self.now = now
        self.marks: dict[str, list[str]] = {"fired": [], "stale": []}
        self.histories: list[HistoryRow] = []
        self.envelopes: list[Envelope] = []
        self.moved: set[str] = set()

    def history(self, lead: LeadRecord, kind: str, detail: dict[str, Any]) -> None:
        self.histories.append({"lead_id": lead.lead_id, "at": self.now, "kind": kind, "detail": detail})

    def emit(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)

    async def flush(self) -> None:
        for state, timer_ids in self.marks.items():
            await self.uow.clocks.mark(timer_ids, state, self.now)
            timer_ids.clear()
        await self.uow.leads.add_history_many(self.histories)
        await self.uow.outbox.emit_many(self.envelopes)
        self.histories.clear()
        self.envelopes.clear()
