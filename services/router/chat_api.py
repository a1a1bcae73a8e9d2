"""The routes reps reach from chat: Slack's button clicks (``POST /v1/chat/slack/actions``) and the
signed one-click links the other platforms' buttons open (``GET``/``POST /v1/act/{token}``).

Thin, like ``api``: each checks who is asking (Slack's signature, the link's mac), then calls a
use case of ``chat_actions``. A link's GET only shows what its button will do: chat clients and
link unfurlers fetch every URL they see, so nothing may change before a person presses it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import httpx
from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import HTMLResponse, Response

from leadrelay.services.router import action_pages as pages
from leadrelay.services.router import slack_interactions as slack
from leadrelay.services.router.chat_actions import (
    NOT_MINE_FROM,
    NOT_MINE_REASONS,
    LinkSpent,
    act,
    act_by_link,
    not_mine_reason,
    principal_of,
    slack_person,
    spend,
)
from leadrelay.services.router.work import ALLOWED_FROM, can_see, current_policy, team_reps
from leadrelay.shared import action_links
from leadrelay.shared.clock import Clock
from leadrelay.shared.link_secret import link_secret
from leadrelay.shared.metrics import Metrics
from leadrelay.shared.policy import Policy
from leadrelay.shared.ports import LeadRecord, Store, StoreUnavailable
from leadrelay.shared.problems import Conflict, Forbidden, InvalidField, NotFound, Problem, Unauthorized
from leadrelay.shared.web.deps import ClockDep, MetricsDep, SettingsDep, StoreDep
from leadrelay.shared.web.openapi import problem_responses

log = logging.getLogger(__name__)

# The token is a credential: the pages are never cached, framed, indexed, or referred from.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
}
RESPONSE_URL_TIMEOUT_S = 10.0
SLACK_ACTIONS = "/v1/chat/slack/actions"
MAX_FORM_FIELD_CHARS = 1000


def page_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The pages a link answers with besides its 200, for the OpenAPI document."""
    return {status: {"description": PAGE_ANSWERS[status], "content": {"text/html": {"schema": {"type": "string"}}}}
            for status in statuses}


PAGE_ANSWERS = {
    403: "Not a link Leadrelay made (cut short, altered, or signed with another secret): a page saying so.",
    404: "The lead is not (or no longer) the link holder's: a page saying so. Nothing changed.",
    409: "The link was used already, or the lead is past that action: a page saying so. Nothing changed.",
    410: "The link has expired (a day after its message): a page saying so. Nothing changed.",
    422: "Not Mine without a known reason (Other needs a note), or Reassign to no rep of the manager's "
         "team: a page saying so. Nothing changed; the link still works.",
    503: "The database is unavailable: a page saying so. Nothing changed.",
}


def chat_actions_router() -> APIRouter:
    router = APIRouter(tags=["chat actions"])

    @router.get("/v1/act/{token}", response_class=HTMLResponse,
                responses=page_responses(403, 404, 409, 410, 503))
    async def open_action_link(token: str, store: StoreDep, clock: ClockDep, metrics: MetricsDep,
                               settings: SettingsDep) -> HTMLResponse:
        """The page a one-click link in chat opens: what its button will do, for whom. Changes nothing."""
        try:
            link = action_links.read(link_secret(settings), token, clock())
        except action_links.LinkRefused as refused:
            return await refused_link(metrics, store, refused)
        try:
            async with store.read() as uow:
                current = await uow.policies.current()
                lead = await uow.leads.get(link.lead_id)
                spent = await uow.tokens.nonce_spent(f"link:{link.nonce}")
                policy = current[1] if current is not None else None
                principal = principal_of(policy, link.person) if policy is not None else None
                visible = lead is not None and principal is not None and await can_see(uow, principal, lead)
        except StoreUnavailable:
            return html(pages.refused_page(None, "unavailable"), "unavailable")
        except Exception:
            # Logged here, without the request's path: the path is the link, a credential.
            log.exception("action link page failed", extra={"lead_id": link.lead_id, "action": link.action})
            return html(pages.refused_page(None, "unavailable"), "unavailable")
        language = language_of(policy, link.person)
        if spent:
            return html(pages.refused_page(language, "used"), "used")
        if not visible or lead is None or policy is None:
            return html(pages.refused_page(language, "not_yours"), "not_yours")
        if lead.state not in allowed_from(link.action):
            return html(pages.refused_page(language, "conflict", state=lead.state), "conflict")
        return HTMLResponse(pages.confirm_page(language, link.action, lead_label(lead), reasons=NOT_MINE_REASONS,
                                               reps=reassign_choices(policy, link.person, lead)),
                            headers=PAGE_HEADERS)

    @router.post("/v1/act/{token}", response_class=HTMLResponse,
                 responses=page_responses(403, 404, 409, 410, 422, 503))
    async def use_action_link(token: str, request: Request, store: StoreDep, clock: ClockDep, metrics: MetricsDep,
                              settings: SettingsDep) -> HTMLResponse:
        """Does what the link says, as the rep (or manager) it names, once: the confirmation page's form
        (form-encoded; Not mine sends `reason` and `note`, Reassign `to_rep`)."""
        try:
            link = action_links.read(link_secret(settings), token, clock())
        except action_links.LinkRefused as refused:
            return await refused_link(metrics, store, refused)
        form = form_fields(await request.body())
        policy = None
        try:
            async with store.read() as uow:
                _, policy = await current_policy(uow)
            language = language_of(policy, link.person)
            choice: dict[str, Any] = {}
            if link.action == "not_mine":
                choice["reason"] = not_mine_reason(form.get("reason"), form.get("note"))
            elif link.action == "reassign":
                choice["to_rep"] = form.get("to_rep")
            lead = await act_by_link(store, clock, metrics, link, **choice)
        except LinkSpent:
            return counted(metrics, link.action, "reused", pages.refused_page(language_of(policy, link.person), "used"),
                           "used")
        except Problem as problem:
            return await refused_action(metrics, store, link, language_of(policy, link.person), problem)
        except StoreUnavailable:
            return html(pages.refused_page(language_of(policy, link.person), "unavailable"), "unavailable")
        except Exception:
            # Logged here, without the request's path: the path is the link, a credential.
            log.exception("action link failed", extra={"lead_id": link.lead_id, "action": link.action})
            return html(pages.refused_page(language_of(policy, link.person), "unavailable"), "unavailable")
        metrics.chat_actions.labels("link", link.action, "done").inc()
        new_owner = display_name(policy, lead.owner) if link.action == "reassign" and policy is not None else None
        return HTMLResponse(pages.done_page(language, link.action, lead_label(lead), new_owner,
                                            lead_url=f"/console/leads/{lead.lead_id}"), headers=PAGE_HEADERS)

    @router.post("/v1/chat/slack/actions", response_class=Response,
                 responses={200: {"description": "Received (an empty body, as Slack expects); the action follows, "
                                                 "and its outcome is posted to the click's response_url.",
                                  "content": {}},
                            **problem_responses(
                                ("Not signed by Slack, not within five minutes, or received before (a replay).",
                                 Unauthorized("Not a request signed by Slack, or not a recent one.",
                                              errors=[{"field": "X-Slack-Signature", "reason": "forged"}])),
                                ("Slack interactivity is not set up here (no LEADRELAY_SLACK_SIGNING_SECRET).",
                                 NotFound("Slack interactivity is not set up here (LEADRELAY_SLACK_SIGNING_SECRET).")),
                                ("A signed body that is not an interaction payload (`payload=<JSON>`).",
                                 InvalidField("Not a Slack interaction payload.",
                                              errors=[{"field": "payload", "reason": "malformed"}])),
                                instance=SLACK_ACTIONS)})
    async def slack_actions(request: Request, background: BackgroundTasks, store: StoreDep, clock: ClockDep,
                            metrics: MetricsDep, settings: SettingsDep) -> Response:
        """Slack's button clicks (the Slack app's Interactivity Request URL; form-encoded `payload=`),
        v0-signed: answered at once, acted on right after, the clicked message updated through its
        response_url."""
        if not settings.slack_signing_secret:
            raise NotFound("Slack interactivity is not set up here (LEADRELAY_SLACK_SIGNING_SECRET).")
        body = await request.body()
        given = request.headers.get("x-slack-signature")
        try:
            sent_at = slack.verify(settings.slack_signing_secret, request.headers.get("x-slack-request-timestamp"),
                                   given, body, clock())
            found = slack.clicks(body)
        except slack.SlackRefused as refused:
            metrics.chat_actions.labels("slack", "-", refused.reason).inc()
            if refused.reason == "malformed":
                raise InvalidField("Not a Slack interaction payload.",
                                   errors=[{"field": "payload", "reason": "malformed"}]) from None
            raise Unauthorized("Not a request signed by Slack, or not a recent one.",
                               errors=[{"field": "X-Slack-Signature", "reason": refused.reason}]) from None
        # A replay inside the five minutes carries a signature already seen.
        if not await spend(store, slack.replay_nonce(given or ""), sent_at + slack.SKEW):
            metrics.chat_actions.labels("slack", "-", "replayed").inc()
            raise Unauthorized("This request was received before.",
                               errors=[{"field": "X-Slack-Signature", "reason": "replayed"}])
        for click in found:  # after the answer: Slack wants it within 3 seconds
            background.add_task(act_on_click, store, clock, metrics, click)
        return Response(status_code=200)

    return router


async def act_on_click(store: Store, clock: Clock, metrics: Metrics, click: slack.Click) -> None:
    """Acts as the rep the Slack user is (``chat.user_id``), then tells Slack: the message gains a
    status line ("Accepted by Li Wei at 10:02"), or the clicker alone hears why nothing changed."""
    reply: dict[str, Any]
    try:
        async with store.read() as uow:
            _, policy = await current_policy(uow)
        person = slack_person(policy, click.user_id)
        if person is None:
            metrics.chat_actions.labels("slack", click.action, "unknown_user").inc()
            reply = slack.refusal_message("\n".join(pages.slack_line(lang, "unknown_user") for lang in ("en", "zh")))
        else:
            language = language_of(policy, person)
            try:
                await act(store, clock, metrics, person, click.lead_id, click.action, via="slack")
            except (NotFound, Forbidden):
                metrics.chat_actions.labels("slack", click.action, "refused").inc()
                reply = slack.refusal_message(pages.slack_line(language, "not_yours"))
            except Conflict:
                metrics.chat_actions.labels("slack", click.action, "refused").inc()
                state = await lead_state(store, click.lead_id)
                reply = slack.refusal_message(pages.slack_line(language, "conflict", state=state))
            else:
                metrics.chat_actions.labels("slack", click.action, "done").inc()
                at = clock().astimezone(zone_of(policy, person))
                line = pages.slack_line(language, click.action, who=display_name(policy, person) or person,
                                        time=f"{at:%H:%M}")
                reply = slack.updated_message(click.message, line)
    except Exception as exc:  # the database went away, or a policy we cannot read: say so, don't guess
        log.warning("slack click not recorded", extra={"lead_id": click.lead_id, "error": type(exc).__name__})
        reply = slack.refusal_message(pages.slack_line("en", "unavailable"))
    if click.response_url:
        await post_response(click.response_url, reply)


async def post_response(url: str, payload: Mapping[str, Any]) -> None:
    """One POST to Slack's response_url. Not retried: the click is recorded either way, and the
    URL is good for a few uses only. The URL is a credential, so it is never logged."""
    try:
        async with httpx.AsyncClient(timeout=RESPONSE_URL_TIMEOUT_S) as client:
            response = await client.post(url, json=dict(payload))
        if response.status_code >= 300:
            log.warning("slack response_url refused the update", extra={"status": response.status_code})
    except httpx.HTTPError as exc:
        log.warning("slack response_url unreachable", extra={"error": type(exc).__name__})


async def refused_link(metrics: Metrics, store: Store, refused: action_links.LinkRefused) -> HTMLResponse:
    """A link we did not make (both languages: whose it is cannot be told), or an expired one
    (in its holder's language)."""
    if refused.reason != "expired" or refused.link is None:
        metrics.chat_actions.labels("link", "-", "tampered").inc()
        return html(pages.refused_page(None, "invalid"), "invalid")
    metrics.chat_actions.labels("link", refused.link.action, "expired").inc()
    try:
        async with store.read() as uow:
            current = await uow.policies.current()
    except StoreUnavailable:
        current = None
    return html(pages.refused_page(language_of(current[1] if current else None, refused.link.person), "expired"),
                "expired")


async def refused_action(metrics: Metrics, store: Store, link: action_links.ActionLink,
                         language: pages.Language, problem: Problem) -> HTMLResponse:
    """The page for an action the API would have refused: nothing changed (the link works again)."""
    if isinstance(problem, InvalidField):
        refusal: pages.Refusal = "choice"
        page = pages.refused_page(language, refusal, detail=problem.detail)
    elif isinstance(problem, Conflict):
        refusal = "conflict"
        page = pages.refused_page(language, refusal, state=await lead_state(store, link.lead_id))
    else:  # NotFound, Forbidden: not theirs, as the API would answer 404
        refusal = "not_yours"
        page = pages.refused_page(language, refusal)
    return counted(metrics, link.action, "refused", page, refusal)


def counted(metrics: Metrics, action: str, outcome: str, page: str, refusal: pages.Refusal) -> HTMLResponse:
    metrics.chat_actions.labels("link", action, outcome).inc()
    return html(page, refusal)


def html(page: str, refusal: pages.Refusal) -> HTMLResponse:
    return HTMLResponse(page, status_code=pages.REFUSAL_STATUS[refusal], headers=PAGE_HEADERS)


def form_fields(body: bytes) -> dict[str, str]:
    """The confirmation form's fields (``application/x-www-form-urlencoded``); what cannot be
    read is simply absent, and the action then says what it misses."""
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {name: values[-1][:MAX_FORM_FIELD_CHARS] for name, values in parsed.items() if values}


def allowed_from(action: str) -> tuple[str, ...]:
    return NOT_MINE_FROM if action == "not_mine" else ALLOWED_FROM.get(action, ())


async def lead_state(store: Store, lead_id: str) -> str:
    async with store.read() as uow:
        lead = await uow.leads.get(lead_id)
    return lead.state if lead is not None else "-"


def lead_label(lead: LeadRecord) -> str:
    """Who the lead is, as the chat message named them: name and company."""
    contact = lead.contact or {}
    parts = [str(contact[key]) for key in ("name", "company") if contact.get(key)]
    return " · ".join(parts) or lead.lead_id


def reassign_choices(policy: Policy, manager: str, lead: LeadRecord) -> list[pages.Choice]:
    """The reps a manager may hand the lead to: their team's, the current owner aside."""
    reps = sorted(rep for rep in team_reps(policy, manager) if rep != lead.owner)
    return [(rep, f"{display_name(policy, rep)} ({rep})" if display_name(policy, rep) != rep else rep) for rep in reps]


def language_of(policy: Policy | None, person: str) -> pages.Language:
    if policy is not None and policy.has_rep(person):
        return pages.language_of(policy.rep(person).languages)
    return "en"  # managers have no language in the policy; their messages are in English too


def zone_of(policy: Policy, person: str) -> ZoneInfo:
    return policy.timezone_of(policy.rep(person)) if policy.has_rep(person) else ZoneInfo(policy.timezone)


def display_name(policy: Policy, person: str | None) -> str | None:
    if person is None:
        return None
    found = policy.rep(person) if policy.has_rep(person) else policy.manager(person)
    return found.name if found is not None and found.name else person

