"""What a rep reads when acting from chat, in their language (Chinese or English): the small pages
a one-click link opens (confirm, done, refused) and the lines a Slack click gets back. One
catalogue, not scattered strings.

Pure: plain data in, text out. Every value from a lead or the policy is escaped. The pages are
made for a phone (one column, large buttons) and tell a reader what happened, never a token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Literal

Language = Literal["en", "zh"]
Choice = tuple[str, str]  # (value, label)


def language_of(languages: Sequence[str]) -> Language:
    """A person's first language decides: Chinese (zh, zh-CN, zh-Hans …) or else English (as
    their chat messages do)."""
    return "zh" if languages and languages[0].strip().lower().startswith("zh") else "en"


TEXT: dict[Language, dict[str, str]] = {
    "en": {
        "confirm_accepted": "Accept this lead?", "button_accepted": "Accept",
        "confirm_contacted": "Mark this lead contacted?", "button_contacted": "Mark contacted",
        "confirm_not_mine": "Not your lead?", "button_not_mine": "Hand it back",
        "explain_not_mine": "It goes back to the team pool for someone else to claim.",
        "confirm_reassign": "Reassign this lead", "button_reassign": "Reassign",
        "nothing_yet": "Nothing changes until you press the button.",
        "why": "Why", "note": "Note (optional; needed for Other)", "to": "To",
        "reason_wrong_territory": "Not my territory", "reason_wrong_product": "Not my product line",
        "reason_existing_customer": "Someone else's customer", "reason_not_a_lead": "Not a real lead (spam, test)",
        "reason_other": "Other (say why below)",
        "done_accepted": "Accepted", "done_contacted": "Marked contacted", "done_not_mine": "Back in the pool",
        "done_reassign": "Reassigned",
        "after_accepted": "{lead} is yours. The first-touch clock runs until you mark it contacted.",
        "after_contacted": "The SLA clocks for {lead} have stopped.",
        "after_not_mine": "{lead} is back in the team pool.",
        "after_reassign": "{lead} now belongs to {rep}.",
        "refused_invalid": "This link is not valid",
        "explain_invalid": "It may have been cut short or changed. Use the buttons in the chat message.",
        "refused_expired": "This link has expired",
        "explain_expired": "Links work for a day. The lead's newest message has fresh ones; or open the lead.",
        "refused_used": "This link was used already",
        "explain_used": "Each link works once. Nothing more was changed.",
        "refused_not_yours": "This lead is not yours",
        "explain_not_yours": "It may have been reassigned or handed back. Nothing was changed.",
        "refused_conflict": "Nothing to do",
        "explain_conflict": "The lead is '{state}' now. Nothing was changed.",
        "refused_choice": "Choose again",
        "explain_choice": "{detail} Go back and choose again; nothing was changed.",
        "refused_unavailable": "Try again in a moment",
        "explain_unavailable": "Leadrelay could not record that just now. Nothing was changed.",
        "no_team": "You have no team's reps to choose from.",
        "open_lead": "Open the lead in the console",
        "slack_accepted": "Accepted by {who} at {time}", "slack_contacted": "Marked contacted by {who} at {time}",
        "slack_not_yours": "This lead is not yours (any more): nothing was changed.",
        "slack_conflict": "Nothing to do: the lead is '{state}' now.",
        "slack_unknown_user": "Your Slack user is not linked to a Leadrelay rep: ask your admin to add "
                              "chat.user_id to the policy.",
        "slack_unavailable": "Leadrelay could not record that just now; try again in a moment.",
    },
    "zh": {
        "confirm_accepted": "接受这条线索？", "button_accepted": "接受",
        "confirm_contacted": "标记这条线索为已联系？", "button_contacted": "标记已联系",
        "confirm_not_mine": "不是你的线索？", "button_not_mine": "退回公海",
        "explain_not_mine": "它会退回公海，由其他同事认领。",
        "confirm_reassign": "改派这条线索", "button_reassign": "改派",
        "nothing_yet": "按下按钮之前，什么都不会改变。",
        "why": "原因", "note": "备注（可选；选“其他”时必填）", "to": "改派给",
        "reason_wrong_territory": "不是我的区域", "reason_wrong_product": "不是我负责的产品",
        "reason_existing_customer": "是其他同事的客户", "reason_not_a_lead": "无效线索（垃圾、测试）",
        "reason_other": "其他（请在下面说明）",
        "done_accepted": "已接受", "done_contacted": "已标记为已联系", "done_not_mine": "已退回公海",
        "done_reassign": "已改派",
        "after_accepted": "{lead} 现在由你跟进。标记已联系之前，首次联系计时仍在继续。",
        "after_contacted": "{lead} 的 SLA 计时已停止。",
        "after_not_mine": "{lead} 已退回公海。",
        "after_reassign": "{lead} 已改派给 {rep}。",
        "refused_invalid": "此链接无效",
        "explain_invalid": "链接可能被截断或修改。请使用聊天消息中的按钮。",
        "refused_expired": "此链接已过期",
        "explain_expired": "链接一天内有效。请使用这条线索最新消息中的按钮，或打开线索。",
        "refused_used": "此链接已使用过",
        "explain_used": "每个链接只能使用一次，没有再做任何更改。",
        "refused_not_yours": "这条线索不在你名下",
        "explain_not_yours": "它可能已被改派或退回公海，没有做任何更改。",
        "refused_conflict": "无需操作",
        "explain_conflict": "线索当前状态为“{state}”，没有做任何更改。",
        "refused_choice": "请重新选择",
        "explain_choice": "{detail} 请返回重新选择，没有做任何更改。",
        "refused_unavailable": "请稍后重试",
        "explain_unavailable": "Leadrelay 暂时无法记录，没有做任何更改。",
        "no_team": "你的团队中没有可以改派的销售。",
        "open_lead": "在控制台中打开线索",
        "slack_accepted": "{who} 于 {time} 接受", "slack_contacted": "{who} 于 {time} 标记为已联系",
        "slack_not_yours": "这条线索不在你名下，没有做任何更改。",
        "slack_conflict": "无需操作：线索当前状态为“{state}”。",
        "slack_unknown_user": "你的 Slack 账号没有关联 Leadrelay 销售：请管理员在策略中设置 chat.user_id。",
        "slack_unavailable": "Leadrelay 暂时无法记录，请稍后重试。",
    },
}

Refusal = Literal["invalid", "expired", "used", "not_yours", "conflict", "choice", "unavailable"]
# The status each refused page answers with: a prefetching client and a person both see why.
REFUSAL_STATUS: Mapping[Refusal, int] = {
    "invalid": 403, "expired": 410, "used": 409, "not_yours": 404, "conflict": 409, "choice": 422,
    "unavailable": 503,
}
# The pages are small and self-contained: no script, no outside resource, nothing to leak the URL to.
_STYLE = (
    "body{font:17px/1.5 system-ui,-apple-system,'PingFang SC','Microsoft YaHei',sans-serif;margin:0 auto;"
    "padding:1.25rem;max-width:32rem;color:#1d1c1d}h1{font-size:1.4rem;margin:.5rem 0 1rem}"
    "label{display:block;font-weight:600;margin-top:1rem}select,textarea{font:inherit;width:100%;"
    "box-sizing:border-box;padding:.6rem;margin:.3rem 0;border:1px solid #bbb;border-radius:.4rem}"
    "button{font:inherit;font-weight:600;width:100%;margin-top:1.25rem;padding:.9rem;border:0;"
    "border-radius:.5rem;background:#1264a3;color:#fff}.muted{color:#616061;font-size:.9rem}"
)


def page(language: Language | None, heading: str, body: str) -> str:
    """A whole page; ``heading`` and ``body`` are HTML already (escaped by the caller)."""
    lang = {"en": "en", "zh": "zh-CN", None: "en"}[language]
    return ("<!doctype html>\n"
            f'<html lang="{lang}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="referrer" content="no-referrer"><meta name="robots" content="noindex">'
            f"<title>Leadrelay</title><style>{_STYLE}</style></head>"
            f"<body><h1>{heading}</h1>{body}</body></html>\n")


def confirm_page(language: Language, action: str, lead: str, *, reasons: Sequence[str] = (),
                 reps: Sequence[Choice] = ()) -> str:
    """The page a link opens: what pressing the button will do, and the one form that does it
    (``not_mine`` asks why, ``reassign`` to whom). Opening it changes nothing."""
    t = TEXT[language]
    fields = ""
    if action == "not_mine":
        options = "".join(f'<option value="{escape(code)}">{escape(t["reason_" + code])}</option>' for code in reasons)
        fields = (f'<p>{escape(t["explain_not_mine"])}</p>'
                  f'<label for="reason">{escape(t["why"])}</label><select id="reason" name="reason">{options}</select>'
                  f'<label for="note">{escape(t["note"])}</label>'
                  '<textarea id="note" name="note" rows="2" maxlength="300"></textarea>')
    elif action == "reassign":
        if not reps:
            return page(language, escape(t["confirm_reassign"]), f"<p>{escape(lead)}</p><p>{escape(t['no_team'])}</p>")
        options = "".join(f'<option value="{escape(value)}">{escape(label)}</option>' for value, label in reps)
        fields = f'<label for="to_rep">{escape(t["to"])}</label><select id="to_rep" name="to_rep">{options}</select>'
    body = (f"<p><strong>{escape(lead)}</strong></p>"
            f'<form method="post">{fields}<button type="submit">{escape(t["button_" + action])}</button></form>'
            f'<p class="muted">{escape(t["nothing_yet"])}</p>')
    return page(language, escape(t["confirm_" + action]), body)


def done_page(language: Language, action: str, lead: str, rep: str | None = None, lead_url: str | None = None) -> str:
    """What happened; with ``lead_url``, a link on to the lead's console page (contact details, history)."""
    t = TEXT[language]
    more = f'<p><a href="{escape(lead_url)}">{escape(t["open_lead"])}</a></p>' if lead_url else ""
    return page(language, escape(t["done_" + action]),
                f"<p>{escape(t['after_' + action].format(lead=lead, rep=rep))}</p>{more}")


def refused_page(language: Language | None, refusal: Refusal, *, state: str = "", detail: str = "") -> str:
    """Why nothing happened. Without a language (a link we cannot read, so not whose it is) the
    page says it in both."""
    languages: tuple[Language, ...] = (language,) if language else ("zh", "en")
    heading = " / ".join(escape(TEXT[lang]["refused_" + refusal]) for lang in languages)
    body = "".join(f"<p>{escape(TEXT[lang]['explain_' + refusal].format(state=state, detail=detail))}</p>"
                   for lang in languages)
    return page(language, heading, body)


def slack_line(language: Language, key: str, **values: str) -> str:
    """A line for Slack: ``accepted``/``contacted`` (with ``who`` and ``time``), or a refusal."""
    return TEXT[language]["slack_" + key].format(**values)
