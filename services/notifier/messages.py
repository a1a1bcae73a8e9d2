"""What a rep reads in chat about a lead: platform-neutral, in the reader's language.

Pure: built from plain data (the lead as stored, the event's word on the assignment, the
policy's word on the reader); the notifier handler gathers those and stores the result. The
contact details are in the message because the rep needs them to call (it is the rep's own
lead); they never go into logs. The buttons the reader's part calls for (Accept, Contacted,
Not mine; a manager's Reassign to…) are signed one-click links or, for a Slack reader the app
can name, callbacks; the secret, the expiry and the nonces' seed are passed in (``Actions``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from leadrelay.services.notifier.platforms import ChatAction, ChatMessage
from leadrelay.shared import action_links
from leadrelay.shared.events import LeadSummary, ProtectionCollision

Language = Literal["en", "zh"]
Role = Literal["owner", "previous_owner", "watcher"]
TOP_REASONS = 3


@dataclass(frozen=True)
class LeadCard:
    """The lead as stored: the parts a message shows."""

    lead_id: str
    contact: Mapping[str, Any]
    source: str
    score: int | None = None
    grade: str | None = None
    reasons: tuple[tuple[str, int], ...] = ()  # (rule, points), as scored
    queue: str | None = None

    @classmethod
    def from_summary(cls, lead_id: str, lead: LeadSummary) -> LeadCard:
        """From the summary the router's events carry."""
        return cls(lead_id=lead_id, contact=lead.contact.model_dump(mode="json"), source=lead.source,
                   score=lead.score, grade=lead.grade, reasons=tuple((r.rule, r.points) for r in lead.reasons),
                   queue=lead.queue)


@dataclass(frozen=True)
class Reader:
    """Who reads the message: the language to write in and the IANA time zone to tell time in."""

    id: str
    language: Language = "en"
    timezone: str = "UTC"


@dataclass(frozen=True)
class Handover:
    """Why the reader hears about the lead. Names are for display (a rep's name, else their id).

    ``role``: the reader owns the lead now, owned it until now, or watches (a manager, a queue).
    ``at`` is when it happened: a deadline on another day than ``at`` is shown with its date.
    """

    role: Role = "owner"
    owner: str | None = None
    previous_owner: str | None = None
    backup_for: str | None = None
    first_touch_due_at: datetime | None = None
    first_touch_target: timedelta | None = None
    at: datetime | None = None
    rule: str | None = None
    held_until: datetime | None = None  # the lead waits for the next shift: routed then


@dataclass(frozen=True)
class Actions:
    """What lets the reader act from the message. Signed one-click links need ``public_url``
    (without it there are none, and the message says how to act instead) and ``secret``; they
    expire at ``expires_at``, and ``seed`` (one per message) keeps each link's nonce its own.
    ``callbacks``: the reader's clicks on Slack come back to us, so Accept and Contacted are
    native buttons (Not mine and Reassign ask for a reason or a rep: a page, so a link)."""

    secret: str
    public_url: str | None
    expires_at: datetime
    seed: str
    callbacks: bool = False

    def link(self, person: str, lead_id: str, action: action_links.Action) -> str | None:
        if not self.public_url:
            return None
        token = action_links.sign(self.secret, action_links.ActionLink(
            person=person, lead_id=lead_id, action=action, expires_at=self.expires_at,
            nonce=action_links.nonce_for(self.seed, action)))
        return f"{self.public_url.rstrip('/')}/v1/act/{token}"


# What the reader may do, by the message's kind and the reader's part in it: the owner works the
# lead (a reminder and an escalation say the same: it is still theirs); the manager an escalation
# reaches may hand it to another rep. Everyone else just reads.
OWNER_ACTIONS: tuple[action_links.Action, ...] = ("accepted", "contacted", "not_mine")
OWNER_KINDS = frozenset({"assigned", "reassigned", "reminder", "escalation"})
MANAGER_ACTIONS: tuple[action_links.Action, ...] = ("reassign",)
# What a manager may act on from a message: an escalation, a lead held for the next shift (to give
# it to someone now), a lead a rep handed back.
MANAGER_KINDS = frozenset({"escalation", "held", "not_mine"})
# Actions that need nothing more than the click (no reason, no rep to choose): Slack buttons.
CALLBACK_ACTIONS = frozenset({"accepted", "contacted"})


def offered_actions(kind: str, role: Role) -> tuple[action_links.Action, ...]:
    if role == "owner" and kind in OWNER_KINDS:
        return OWNER_ACTIONS
    if role == "watcher" and kind in MANAGER_KINDS:
        return MANAGER_ACTIONS
    return ()


def language_of(languages: Sequence[str]) -> Language:
    """A rep's first language decides: Chinese (zh, zh-CN, zh-Hans …) or else English."""
    return "zh" if languages and languages[0].strip().lower().startswith("zh") else "en"


_TEXT: dict[Language, dict[str, str]] = {
    "en": {
        "assigned": "New {grade} lead: {who}",
        "reassigned": "Lead reassigned to you ({grade}): {who}",
        "reassigned_away": "Lead reassigned to {owner}: {who}",
        "fallback": "Unassigned {grade} lead in queue {queue}: {who}",
        "reminder": "Reminder: {grade} lead waiting: {who}",
        "escalation": "Escalation: {grade} lead past its SLA: {who}",
        "recycled": "Lead returned to the pool: {who}",
        "held": "Held for the next shift ({grade}): {who}",
        "not_mine": "{previous} handed a lead back: {who}",
        "collision": "Collision: {previous} and {owner} on one person: {who}",
        "collision_routing": "Rule {rule} would have given this lead to {other}; it went to {owner}, "
                             "who is protecting this person until {until} (last: {touch} {touched}).",
        "collision_claim": "{other} tried to claim this lead and was refused: {owner} is protecting this "
                           "person until {until} (last: {touch} {touched}).",
        "touch_assigned": "given the lead", "touch_accepted": "accepted", "touch_contacted": "contacted",
        "touch_converted": "converted",
        "held_until": "Nobody covering this lead is on shift: it is held, and routed at {time} ({tz}).",
        "not_mine_why": "Why: {reason}.",
        "back_in_pool": "It is back in the team pool: reassign it, or a rep of the team may claim it.",
        "wrong_territory": "wrong territory", "wrong_product": "wrong product",
        "existing_customer": "existing customer", "not_a_lead": "not a lead", "other": "other",
        "company": "{who} ({company})",
        "someone": "Someone",
        "backup": "You are the backup for {rep}: this lead is yours now.",
        "from": "Reassigned to you from {rep}.",
        "away": "Reassigned from you to {rep}: nothing more to do.",
        "owner": "Owner: {rep}.",
        "deadline": "First touch by {time} ({tz}), {target}.",
        "open": "Open in Leadrelay",
        "act_accepted": "Accept", "act_contacted": "Contacted", "act_not_mine": "Not mine",
        "act_reassign": "Reassign to…",
        "no_links": "To act on this lead, use Leadrelay: one-click buttons need its public URL "
                    "(LEADRELAY_PUBLIC_URL).",
        "some_links": "For Not mine and Reassign, use Leadrelay: their pages need its public URL "
                      "(LEADRELAY_PUBLIC_URL).",
        "hot": "hot", "warm": "warm", "cold": "cold",
        "min": "{n} min", "h": "{n} h", "day": "{n} day", "days": "{n} days", "join": " ", "list": ", ",
        "Job title": "Job title", "Score": "Score", "Why": "Why", "Phone": "Phone", "Email": "Email",
        "Industry": "Industry", "Employees": "Employees", "Location": "Location", "Website": "Website",
        "Source": "Source", "Lead ID": "Lead ID", "Rule": "Rule",
    },
    "zh": {
        "assigned": "新线索（{grade}）：{who}",
        "reassigned": "线索改派给你（{grade}）：{who}",
        "reassigned_away": "线索已改派给 {owner}：{who}",
        "fallback": "未分配线索（{grade}），队列 {queue}：{who}",
        "reminder": "提醒：线索（{grade}）待跟进：{who}",
        "escalation": "升级：线索（{grade}）已超出 SLA：{who}",
        "recycled": "线索已退回公海：{who}",
        "held": "线索暂缓至下一班（{grade}）：{who}",
        "not_mine": "{previous} 退回了线索：{who}",
        "collision": "撞单：{previous} 与 {owner} 争同一客户：{who}",
        "collision_routing": "规则 {rule} 本会把这条线索分给 {other}；该客户在 {owner} 的保护期内"
                             "（至 {until}，最近一次：{touched} {touch}），线索已分给 {owner}。",
        "collision_claim": "{other} 试图认领这条线索，已被拒绝：该客户在 {owner} 的保护期内"
                           "（至 {until}，最近一次：{touched} {touch}）。",
        "touch_assigned": "分配", "touch_accepted": "接受", "touch_contacted": "联系", "touch_converted": "成交",
        "held_until": "负责这条线索的同事都不在班：已暂缓，将于 {time}（{tz}）自动分配。",
        "not_mine_why": "原因：{reason}。",
        "back_in_pool": "线索已退回公海：可改派给他人，或由团队同事认领。",
        "wrong_territory": "区域不对", "wrong_product": "产品不对", "existing_customer": "已是客户",
        "not_a_lead": "不是有效线索", "other": "其他",
        "company": "{who}（{company}）",
        "someone": "未留姓名",
        "backup": "你是 {rep} 的备份，这条线索现在由你跟进。",
        "from": "由 {rep} 改派给你。",
        "away": "已从你改派给 {rep}，你无需再跟进。",
        "owner": "负责人：{rep}。",
        "deadline": "请在 {time}（{tz}）前首次联系，时限 {target}。",
        "open": "在 Leadrelay 中打开",
        "act_accepted": "接受", "act_contacted": "已联系", "act_not_mine": "不是我的", "act_reassign": "改派给…",
        "no_links": "请在 Leadrelay 中处理这条线索：一键按钮需要先配置 Leadrelay 的公网地址（LEADRELAY_PUBLIC_URL）。",
        "some_links": "“不是我的”和改派请在 Leadrelay 中操作：它们的页面需要先配置公网地址（LEADRELAY_PUBLIC_URL）。",
        "hot": "热", "warm": "温", "cold": "冷",
        "min": "{n} 分钟", "h": "{n} 小时", "day": "{n} 天", "days": "{n} 天", "join": " ", "list": "，",
        "Job title": "职位", "Score": "评分", "Why": "原因", "Phone": "电话", "Email": "邮箱",
        "Industry": "行业", "Employees": "员工数", "Location": "地区", "Website": "网站",
        "Source": "来源", "Lead ID": "线索 ID", "Rule": "规则",
    },
}


def console_lead_url(base_url: str, lead_id: str) -> str:
    """The lead's page in the web console (Open): the reader signs in there if need be, and
    sees it if it is theirs. Only the lead's id is in it, never a contact detail."""
    return f"{base_url.rstrip('/')}/console/leads/{lead_id}"


def lead_message(kind: str, lead: LeadCard, reader: Reader, base_url: str, handover: Handover | None = None,
                 text: str = "", actions: Actions | None = None) -> ChatMessage:
    """The message ``reader`` gets about ``lead``; ``text`` is an extra line (an SLA step's detail).
    With ``actions``, it carries the buttons the reader's part in it offers (``offered_actions``)."""
    t = _TEXT[reader.language]
    handover = handover or Handover()
    buttons, unreachable = _buttons(t, kind, lead.lead_id, reader, handover, actions)
    how_to_act = (t["some_links"] if buttons else t["no_links"]) if unreachable else ""
    lines = [line for line in (_note(t, handover), _deadline(t, reader, handover), _held(t, reader, handover), text,
                               how_to_act) if line]
    return ChatMessage(kind=kind, lead_id=lead.lead_id, title=_title(t, kind, lead, handover),
                       facts=_facts(t, lead, handover), url=console_lead_url(base_url, lead.lead_id),
                       text="\n".join(lines), link_text=t["open"], actions=buttons)


def _buttons(t: Mapping[str, str], kind: str, lead_id: str, reader: Reader, handover: Handover,
             actions: Actions | None) -> tuple[tuple[ChatAction, ...], bool]:
    """The reader's buttons, and whether some offered action could not be given one (no public URL)."""
    if actions is None:
        return (), False
    buttons: list[ChatAction] = []
    unreachable = False
    for name in offered_actions(kind, handover.role):
        label = t[f"act_{name}"]
        if actions.callbacks and name in CALLBACK_ACTIONS:
            buttons.append(ChatAction(name=name, label=label, kind="callback", value=f"{name}:{lead_id}"))
        elif (url := actions.link(reader.id, lead_id, name)) is not None:
            buttons.append(ChatAction(name=name, label=label, kind="url", url=url))
        else:
            unreachable = True
    return tuple(buttons), unreachable


def _title(t: Mapping[str, str], kind: str, lead: LeadCard, handover: Handover) -> str:
    who = str(lead.contact.get("name") or t["someone"])
    if lead.contact.get("company"):
        who = t["company"].format(who=who, company=lead.contact["company"])
    moved = kind == "reassigned" or (kind == "assigned" and handover.role == "previous_owner")
    key = "reassigned_away" if moved and handover.role != "owner" else kind
    return t[key].format(grade=t.get(lead.grade or "", lead.grade or ""), queue=lead.queue or "-",
                         owner=handover.owner or "-", previous=handover.previous_owner or "-", who=who)


def _note(t: Mapping[str, str], handover: Handover) -> str:
    if handover.role == "owner":
        if handover.backup_for:
            return t["backup"].format(rep=handover.backup_for)
        if handover.previous_owner:
            return t["from"].format(rep=handover.previous_owner)
        return ""
    if handover.role == "previous_owner":
        return t["away"].format(rep=handover.owner) if handover.owner else ""
    return t["owner"].format(rep=handover.owner) if handover.owner else ""


def _deadline(t: Mapping[str, str], reader: Reader, handover: Handover) -> str:
    due, target = handover.first_touch_due_at, handover.first_touch_target
    if due is None or target is None or handover.role == "previous_owner":
        return ""
    zone = ZoneInfo(reader.timezone)
    local = due.astimezone(zone)
    same_day = handover.at is not None and handover.at.astimezone(zone).date() == local.date()
    time = local.strftime("%H:%M" if same_day else "%Y-%m-%d %H:%M")
    return t["deadline"].format(time=time, tz=reader.timezone, target=duration(t, target))


_WEEKDAYS: dict[Language, tuple[str, ...]] = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "zh": ("周一", "周二", "周三", "周四", "周五", "周六", "周日"),
}


def _held(t: Mapping[str, str], reader: Reader, handover: Handover) -> str:
    """When a held lead is routed, in the reader's zone: "Mon 09:00", with the date a week or more away."""
    if handover.held_until is None:
        return ""
    zone = ZoneInfo(reader.timezone)
    local = handover.held_until.astimezone(zone)
    time = f"{_WEEKDAYS[reader.language][local.weekday()]} {local:%H:%M}"
    if handover.at is not None and (local.date() - handover.at.astimezone(zone).date()).days >= 7:
        time = f"{local:%Y-%m-%d} {time}"
    return t["held_until"].format(time=time, tz=reader.timezone)


def collision_note(language: Language, collision: ProtectionCollision, other: str, owner: str,
                   timezone: str) -> str:
    """What a manager reads about a collision (撞单): who would have had the lead, whose
    protection period kept it, until when and what set it (dates in ``timezone``)."""
    t = _TEXT[language]
    zone = ZoneInfo(timezone)
    return t[f"collision_{collision.kind}"].format(
        rule=collision.rule or "-", other=other, owner=owner,
        until=f"{collision.protected_until.astimezone(zone):%Y-%m-%d}",
        touch=t.get(f"touch_{collision.last_touch}", collision.last_touch),
        touched=f"{collision.last_touch_at.astimezone(zone):%Y-%m-%d}")


def not_mine_note(language: Language, reason: str | None) -> str:
    """Why a rep handed a lead back, in the manager's language: the reason's code in words (the
    rep's own note as written), and where the lead is now."""
    t = _TEXT[language]
    code, _, note = (reason or "").partition(": ")
    said = t.get(code, code) if code in NOT_MINE_CODES else (reason or "")
    if said and note and code in NOT_MINE_CODES:
        said = f"{said}: {note}" if language == "en" else f"{said}：{note}"
    lines = [t["not_mine_why"].format(reason=said)] if said else []
    return "\n".join([*lines, t["back_in_pool"]])


# The reasons a rep picks from (the router's NOT_MINE_REASONS): each has words in the catalogue.
NOT_MINE_CODES = frozenset({"wrong_territory", "wrong_product", "existing_customer", "not_a_lead", "other"})


def duration(t: Mapping[str, str], value: timedelta) -> str:
    """15 min, 4 h, 1 day, 1 h 30 min; in the reader's language."""
    minutes = int(value.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    if days and not rest:
        return t["day" if days == 1 else "days"].format(n=days)
    hours, minutes = divmod(minutes, 60)
    parts = ([t["h"].format(n=hours)] if hours else []) + ([t["min"].format(n=minutes)] if minutes or not hours else [])
    return t["join"].join(parts)


def _facts(t: Mapping[str, str], lead: LeadCard, handover: Handover) -> tuple[tuple[str, str], ...]:
    contact = lead.contact
    facts: list[tuple[str, str]] = []

    def add(label: str, value: Any) -> None:
        if value is not None and str(value).strip():
            facts.append((t[label], str(value)))

    add("Job title", contact.get("title"))
    if lead.score is not None:
        add("Score", f"{lead.score} · {t.get(lead.grade or '', lead.grade or '-')}")
    top = sorted((r for r in lead.reasons if r[1] > 0), key=lambda r: -r[1])[:TOP_REASONS]
    add("Why", t["list"].join(f"{rule} +{points}" for rule, points in top))
    add("Phone", contact.get("phone"))
    add("Email", contact.get("email"))
    add("Industry", contact.get("industry"))
    add("Employees", contact.get("employees"))
    add("Location", t["list"].join(str(contact[k]) for k in ("city", "region", "country") if contact.get(k)))
    add("Website", contact.get("website"))
    add("Source", lead.source)
    add("Lead ID", lead.lead_id)
    add("Rule", handover.rule)
    return tuple(facts)


def message_to_json(message: ChatMessage) -> dict[str, Any]:
    return {"kind": message.kind, "lead_id": message.lead_id, "title": message.title,
            "facts": [list(f) for f in message.facts], "url": message.url, "text": message.text,
            "link_text": message.link_text,
            "actions": [{"name": a.name, "label": a.label, "kind": a.kind, "url": a.url, "value": a.value}
                        for a in message.actions]}


def message_from_json(data: dict[str, Any]) -> ChatMessage:
    extra = {"link_text": data["link_text"]} if data.get("link_text") else {}  # rows queued before it existed
    actions = tuple(ChatAction(**action) for action in data.get("actions") or ())
    return ChatMessage(kind=data["kind"], lead_id=data["lead_id"], title=data["title"],
                       facts=tuple((a, b) for a, b in data["facts"]), url=data.get("url"), text=data.get("text", ""),
                       actions=actions, **extra)
