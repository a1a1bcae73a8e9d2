"""How a routed lead reads over HTTP: the whole story of one lead, and a line per lead in lists;
and the policy as an API may show it, with every chat credential masked."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import yaml

from leadrelay.shared.clock import as_utc
from leadrelay.shared.policy import Policy, PolicyError, load_policy
from leadrelay.shared.ports import LeadRecord, UnitOfWork


def iso(value: Any) -> str | None:
    value = as_utc(value)
    return value.isoformat() if value else None


async def lead_view(uow: UnitOfWork, lead: LeadRecord) -> dict[str, Any]:
    decisions = await uow.leads.decisions(lead.lead_id)
    deliveries = await uow.deliveries.for_lead(lead.lead_id)
    webhooks = await uow.webhook_deliveries.for_lead(lead.lead_id)
    history = await uow.leads.history(lead.lead_id)
    clocks = await uow.clocks.for_lead(lead.lead_id)
    person = await uow.people.get(lead.person_id) if lead.person_id else None
    return {
        "lead_id": lead.lead_id,
        "status": lead.state,
        "source": lead.source,
        "received_at": iso(lead.received_at),
        "contact": lead.contact,
        "person_id": lead.person_id,
        # Consent to marketing contact: this lead's answer, and the person's newest (docs: README, "Consent").
        "consent": {"lead": (lead.contact or {}).get("consent"),
                    "person": person.data.get("consent") if person else None,
                    "person_at": person.data.get("consent_at") if person else None},
        "duplicate_of": lead.duplicate_of,
        "score": lead.score,
        "grade": lead.grade,
        "score_reasons": lead.reasons or [],
        "owner": lead.owner,
        "team": lead.team,
        "queue": lead.queue,
        "assigned_at": iso(lead.assigned_at),
        "policy_version": lead.policy_version,
        "decision": dict(decisions[-1].explanation, decided_at=iso(decisions[-1].decided_at)) if decisions else None,
        "decisions": [dict(d.explanation, decided_at=iso(d.decided_at)) for d in decisions],
        "sla_clocks": [
            {"clock": c.clock, "step": c.step, "due_at": iso(c.due_at), "state": c.state, "fired_at": iso(c.fired_at)}
            for c in clocks
        ],
        "notifications": [
            {"recipient": d.recipient, "platform": d.platform, "kind": d.kind, "state": d.state,
             "attempts": d.attempts, "sent_at": iso(d.sent_at), "last_error": d.last_error}
            for d in deliveries
        ],
        # Webhook subscriptions and CRM connectors: one entry per event and subscription.
        "webhooks": [
            {"subscription": w.subscription_id, "event": w.event_type, "event_id": w.event_id, "state": w.state,
             "attempts": w.attempts, "delivered_at": iso(w.delivered_at), "last_error": w.last_error}
            for w in webhooks
        ],
        # The entry's own time and kind win over same-named keys in its detail.
        "history": [{"at": iso(h.at), "kind": h.kind, **{k: v for k, v in h.detail.items() if k not in ("at", "kind")}}
                    for h in history],
    }


def summary(lead: LeadRecord) -> dict[str, Any]:
    contact = lead.contact or {}
    return {"lead_id": lead.lead_id, "status": lead.state, "grade": lead.grade, "score": lead.score,
            "source": lead.source, "owner": lead.owner, "team": lead.team, "queue": lead.queue,
            "name": contact.get("name"), "company": contact.get("company"),
            "received_at": iso(lead.received_at), "assigned_at": iso(lead.assigned_at)}


# --- credentials -------------------------------------------------------------------------------
# For Slack, Teams, WeCom and DingTalk the webhook URL is the credential, and a signing secret
# is one: no API returns either, only masked. An ``env:NAME`` secret names where the secret is,
# not the secret, and reads as written.

MASK = "…"
SECRET_KEYS = ("webhook", "secret")
TAIL_FROM = 16  # a value at least this long keeps its last 4 characters, to tell values apart


def mask_secret(value: str) -> str:
    """``https://hooks.slack.com/services/T0/B0/abcdefgh`` → ``https://hooks.slack.com/…efgh``:
    a URL keeps its scheme and host (never a user or password), a long value its last 4
    characters; the rest is masked."""
    tail = value[-4:] if len(value) >= TAIL_FROM else ""
    try:
        parts = urlsplit(value)
        host, port = parts.hostname, parts.port
    except ValueError:
        return MASK + tail
    if parts.scheme not in ("http", "https") or not host:
        return MASK + tail
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{f':{port}' if port else ''}/{MASK}{tail}"


def is_reference(key: str, value: str) -> bool:
    return key == "secret" and value.startswith("env:")


def policy_secrets(policy: Policy) -> list[tuple[str, str]]:
    """(path, value) of every chat credential the policy holds."""
    found = []
    for section, people in (("reps", policy.reps), ("managers", policy.managers)):
        for index, person in enumerate(people):
            chat = person.chat
            if chat is None:
                continue
            found.append((f"{section}[{index}].chat.webhook", chat.webhook))
            if chat.secret and not is_reference("secret", chat.secret):
                found.append((f"{section}[{index}].chat.secret", chat.secret))
    return found


def masked_policy(text: str, policy: Policy) -> str:
    """The policy document as written (comments and layout kept) with every ``webhook`` and
    ``secret`` value masked, and any other mention of a credential too. A document the masking
    cannot be sure of is written out afresh from ``policy``, masked."""
    secrets = {value for _, value in policy_secrets(policy)}
    masked = mask_values(text)
    if masked is not None:
        for value in sorted(secrets, key=len, reverse=True):
            masked = masked.replace(value, mask_secret(value)) if len(value) >= 8 else masked
        if not any(value in masked for value in secrets) and no_secret_left(masked, secrets):
            return masked
    document = mask_tree(policy.model_dump(mode="json", exclude_defaults=True))
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


def mask_values(text: str) -> str | None:
    """``text`` with each ``webhook:``/``secret:`` scalar replaced by its mask, in place; None
    when the text does not parse as YAML."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    spans: dict[int, tuple[int, str]] = {}
    seen: set[int] = set()

    def walk(node: yaml.Node | None) -> None:
        if node is None or id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if (isinstance(key, yaml.ScalarNode) and key.value in SECRET_KEYS and isinstance(value, yaml.ScalarNode)
                        and not is_reference(key.value, value.value)):
                    block = value.style in ("|", ">")
                    replacement = json.dumps(mask_secret(value.value), ensure_ascii=False) + ("\n" if block else "")
                    spans[value.start_mark.index] = (value.end_mark.index, replacement)
                walk(key)
                walk(value)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                walk(item)

    walk(root)
    for start in sorted(spans, reverse=True):
        end, replacement = spans[start]
        text = text[:start] + replacement + text[end:]
    return text


def no_secret_left(text: str, secrets: set[str]) -> bool:
    """The masked text still reads as a policy and holds no credential, however quoted."""
    try:
        policy = load_policy(text)
    except PolicyError:
        return False
    return not any(value in secrets for _, value in policy_secrets(policy))


def mask_tree(node: Any, key: str = "") -> Any:
    if isinstance(node, dict):
        return {k: mask_tree(v, str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [mask_tree(item) for item in node]
    if isinstance(node, str) and key in SECRET_KEYS and not is_reference(key, node):
        return mask_secret(node)
    return node


def masked_paths(policy: Policy, current: Policy | None) -> list[str]:
    """Where a new policy carries a value exactly as ``GET /v1/policy`` masked the current one's
    (a document read, edited and sent back): storing it would cut that person's chat off."""
    if current is None:
        return []
    masks = {mask_secret(value) for _, value in policy_secrets(current)}
    return [path for path, value in policy_secrets(policy) if value in masks]
