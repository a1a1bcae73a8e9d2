"""The console's words in English and Chinese: one catalogue, ``t(lang, key, **fmt)``.

Page modules with many words of their own (the ops pages) keep them in their own dict and add it
with ``register_messages`` when they are imported, so two modules never edit one dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

Lang = Literal["en", "zh"]
LANGS: tuple[Lang, ...] = ("en", "zh")

MESSAGES: dict[str, dict[str, str]] = {
    # the frame
    "app.name": {"en": "Leadrelay console", "zh": "Leadrelay 控制台"},
    "nav.home": {"en": "Home", "zh": "首页"},
    "nav.my_leads": {"en": "My leads", "zh": "我的线索"},
    "nav.pool": {"en": "Team pool", "zh": "团队线索池"},
    "nav.team": {"en": "Team leads", "zh": "团队线索"},
    "nav.board": {"en": "SLA board", "zh": "SLA 看板"},
    "nav.fallback": {"en": "Fallback queue", "zh": "兜底队列"},
    "nav.credits": {"en": "Credits", "zh": "积分"},
    "nav.ops": {"en": "Sales ops", "zh": "销售运营"},
    "nav.search": {"en": "Search", "zh": "搜索"},
    "nav.policy": {"en": "Policy", "zh": "分配策略"},
    "nav.simulate": {"en": "Simulate", "zh": "模拟"},
    "nav.sources": {"en": "Sources", "zh": "线索来源"},
    "nav.dlq": {"en": "Dead letters", "zh": "死信"},
    "nav.signout": {"en": "Sign out", "zh": "退出登录"},
    "nav.language": {"en": "Language", "zh": "语言"},
    "nav.signed_in_as": {"en": "Signed in as {who}", "zh": "当前用户：{who}"},
    "role.admin": {"en": "admin", "zh": "管理员"},
    "role.manager": {"en": "manager", "zh": "经理"},
    "role.rep": {"en": "rep", "zh": "销售"},
    # sign-in
    "signin.title": {"en": "Sign in", "zh": "登录"},
    "signin.token": {"en": "Access token", "zh": "访问令牌"},
    "signin.submit": {"en": "Sign in", "zh": "登录"},
    "signin.where": {"en": "Tokens come from the command line. An admin token:",
                     "zh": "令牌由命令行生成。管理员令牌："},
    "signin.where_rep": {"en": "A rep's token:", "zh": "销售的令牌："},
    "signin.where_manager": {"en": "A manager's token:", "zh": "经理的令牌："},
    "signin.first_run": {"en": "On its first start, leadrelay run prints an admin token for this page.",
                         "zh": "leadrelay run 首次启动时会打印一个可用于此页面的管理员令牌。"},
    "signin.refused": {"en": "That token is unknown or revoked.", "zh": "该令牌不存在或已被吊销。"},
    "signin.not_console": {"en": "A source key can't sign in here: use an admin, manager or rep token.",
                           "zh": "线索来源密钥不能登录控制台：请使用管理员、经理或销售的令牌。"},
    "signin.expired": {"en": "Your session ended. Sign in again.", "zh": "会话已结束，请重新登录。"},
    "signin.signed_out": {"en": "You are signed out.", "zh": "您已退出登录。"},
    # errors
    "error.not_found": {"en": "Not found", "zh": "未找到"},
    "error.not_found_text": {"en": "There is nothing here for you.", "zh": "这里没有您可以查看的内容。"},
    "error.forbidden": {"en": "Refused", "zh": "已拒绝"},
    "error.csrf": {"en": "This form is stale or was not sent from the console. Go back, reload the page and try again.",
                   "zh": "该表单已过期或并非来自控制台。请返回、刷新页面后重试。"},
    "error.role": {"en": "Your role can't open this page.", "zh": "您的角色无法打开此页面。"},
    "error.back_home": {"en": "Back to the console", "zh": "返回控制台"},
    # lists and the lead page
    "leads.times_in": {"en": "Times in {tz}.", "zh": "时间按 {tz} 显示。"},
    "leads.none": {"en": "No leads yet.", "zh": "暂无线索。"},
    "col.lead": {"en": "Lead", "zh": "线索"},
    "col.state": {"en": "State", "zh": "状态"},
    "col.sla": {"en": "SLA", "zh": "SLA"},
    "col.grade": {"en": "Grade", "zh": "等级"},
    "col.reasons": {"en": "Why this grade", "zh": "评分依据"},
    "col.owner": {"en": "Owner", "zh": "负责人"},
    "col.team": {"en": "Team", "zh": "团队"},
    "col.queue": {"en": "queue", "zh": "队列"},
    "col.source": {"en": "Source", "zh": "来源"},
    "col.received": {"en": "Received", "zh": "接收时间"},
    "col.lead_id": {"en": "Lead id", "zh": "线索 ID"},
    "col.rep": {"en": "Rep", "zh": "销售"},
    "col.clock": {"en": "Clock", "zh": "时钟"},
    "col.step": {"en": "Step", "zh": "步骤"},
    "col.due": {"en": "Due", "zh": "到期"},
    "col.open": {"en": "Open leads", "zh": "在跟进"},
    "col.today": {"en": "Assigned today", "zh": "今日分配"},
    "col.status": {"en": "Now", "zh": "当前"},
    "col.balance": {"en": "Balance", "zh": "余额"},
    "col.delta": {"en": "Change", "zh": "变动"},
    "col.by": {"en": "By", "zh": "操作人"},
    "col.at": {"en": "When", "zh": "时间"},
    "state.offered": {"en": "offered", "zh": "待接受"},
    "state.assigned": {"en": "assigned", "zh": "已分配"},
    "state.accepted": {"en": "accepted", "zh": "已接受"},
    "state.contacted": {"en": "contacted", "zh": "已联系"},
    "state.converted": {"en": "converted", "zh": "已成交"},
    "state.lost": {"en": "lost", "zh": "已流失"},
    "state.queued": {"en": "queued", "zh": "排队中"},
    "state.pool": {"en": "in the pool", "zh": "公海"},
    "state.held": {"en": "held", "zh": "暂缓"},
    "state.new": {"en": "new", "zh": "新建"},
    "grade.hot": {"en": "hot", "zh": "热"},
    "grade.warm": {"en": "warm", "zh": "温"},
    "grade.cold": {"en": "cold", "zh": "冷"},
    "clock.handoff": {"en": "accept by", "zh": "接受时限"},
    "clock.first_touch": {"en": "first touch by", "zh": "首次联系时限"},
    "clock.recycle": {"en": "back to pool", "zh": "退回公海"},
    "lead.contact": {"en": "Contact", "zh": "联系方式"},
    "lead.actions": {"en": "Actions", "zh": "操作"},
    "lead.reason_lost": {"en": "Why was it lost?", "zh": "流失原因"},
    "lead.reason_not_mine": {"en": "Why is it not yours?", "zh": "为什么不是你的线索？"},
    "lead.reassign": {"en": "Reassign", "zh": "改派"},
    "lead.to_rep": {"en": "To", "zh": "改派给"},
    "lead.reassign_reason": {"en": "Why (optional)", "zh": "原因（可选）"},
    "lead.history": {"en": "History", "zh": "历史"},
    "lead.decision": {"en": "Why it went where it went", "zh": "分配决策"},
    "lead.clocks": {"en": "SLA timeline", "zh": "SLA 时间线"},
    "contact.name": {"en": "Name", "zh": "姓名"},
    "contact.company": {"en": "Company", "zh": "公司"},
    "contact.title": {"en": "Title", "zh": "职位"},
    "contact.email": {"en": "Email", "zh": "邮箱"},
    "contact.phone": {"en": "Phone", "zh": "电话"},
    "contact.country": {"en": "Country", "zh": "国家"},
    "contact.region": {"en": "Region", "zh": "地区"},
    "contact.city": {"en": "City", "zh": "城市"},
    "contact.industry": {"en": "Industry", "zh": "行业"},
    "contact.employees": {"en": "Employees", "zh": "员工数"},
    "contact.language": {"en": "Language", "zh": "语言"},
    "contact.website": {"en": "Website", "zh": "网站"},
    "action.accepted": {"en": "Accept", "zh": "接受"},
    "action.contacted": {"en": "Mark contacted", "zh": "标记已联系"},
    "action.converted": {"en": "Mark converted", "zh": "标记已成交"},
    "action.lost": {"en": "Mark lost", "zh": "标记流失"},
    "action.not_mine": {"en": "Not mine: back to the pool", "zh": "不是我的：退回公海"},
    "action.reassign": {"en": "Reassign", "zh": "改派"},
    "why.no_budget": {"en": "No budget", "zh": "没有预算"},
    "why.no_response": {"en": "No response", "zh": "联系不上"},
    "why.competitor": {"en": "Chose a competitor", "zh": "选择了竞争对手"},
    "why.not_a_fit": {"en": "Not a fit", "zh": "不匹配"},
    "why.wrong_territory": {"en": "Not my territory", "zh": "不是我的区域"},
    "why.wrong_product": {"en": "Not my product line", "zh": "不是我的产品线"},
    "why.existing_customer": {"en": "Someone else's customer", "zh": "其他人的客户"},
    "why.not_a_lead": {"en": "Not a real lead (spam, test)", "zh": "无效线索（垃圾、测试）"},
    "history.received": {"en": "received", "zh": "接收"},
    "history.scored": {"en": "scored", "zh": "评分"},
    "history.assigned": {"en": "assigned", "zh": "分配"},
    "history.accepted": {"en": "accepted", "zh": "接受"},
    "history.contacted": {"en": "contacted", "zh": "已联系"},
    "history.converted": {"en": "converted", "zh": "成交"},
    "history.lost": {"en": "lost", "zh": "流失"},
    "history.not_mine": {"en": "handed back", "zh": "退回"},
    "history.reassigned": {"en": "reassigned", "zh": "改派"},
    "history.claimed": {"en": "claimed", "zh": "认领"},
    "history.collision": {"en": "collision: the person is protected for another rep", "zh": "撞单：客户在他人保护期内"},
    "history.queued": {"en": "queued", "zh": "排队"},
    "history.recycled": {"en": "back to the pool", "zh": "退回公海"},
    "history.notification_failed": {"en": "chat message not delivered", "zh": "聊天消息未送达"},
    "history.notified": {"en": "chat message sent", "zh": "已发送聊天消息"},
    "history.offered": {"en": "offered", "zh": "已推送待接受"},
    "history.offer_expired": {"en": "offer expired", "zh": "推送已过期"},
    "history.sla_reassigned": {"en": "reassigned by the SLA", "zh": "因 SLA 超时改派"},
    "history.person_merged": {"en": "merged with a known person", "zh": "与已知联系人合并"},
    "decision.rule": {"en": "Rule", "zh": "规则"},
    "decision.strategy": {"en": "Strategy", "zh": "策略"},
    "decision.summary": {"en": "In short", "zh": "摘要"},
    "decision.policy": {"en": "Policy", "zh": "策略版本"},
    "decision.passed_over": {"en": "Rules passed over", "zh": "未采用的规则"},
    "decision.candidates": {"en": "Candidates", "zh": "候选人"},
    "decision.kept": {"en": "Kept", "zh": "保留"},
    "decision.why": {"en": "Why", "zh": "原因"},
    "decision.arithmetic": {"en": "The strategy's arithmetic", "zh": "策略计算过程"},
    # what an action did (after the redirect)
    "done.accepted": {"en": "Accepted: the lead is yours.", "zh": "已接受：这条线索归你了。"},
    "done.contacted": {"en": "Marked contacted: the first-touch clock stopped.", "zh": "已标记联系：首次联系计时已停止。"},
    "done.converted": {"en": "Marked converted. Well done!", "zh": "已标记成交，干得好！"},
    "done.lost": {"en": "Marked lost.", "zh": "已标记流失。"},
    "done.not_mine": {"en": "Handed back: the lead is in the team pool.", "zh": "已退回：线索已回到团队公海。"},
    "done.reassign": {"en": "Reassigned.", "zh": "已改派。"},
    "done.claimed": {"en": "Claimed: the lead is yours.", "zh": "认领成功：这条线索归你了。"},
    "done.credit": {"en": "Credit recorded.", "zh": "积分已记录。"},
    # refusals of the use cases, explained
    "refusal.state": {"en": "Nothing done: the lead is {state} now.", "zh": "未执行：该线索当前为「{state}」。"},
    "refusal.claimed_first": {"en": "Someone claimed this lead first.", "zh": "这条线索已被他人抢先认领。"},
    "refusal.cooldown": {"en": "You had this lead before: you can claim it again after {until} ({tz}).",
                         "zh": "你之前负责过这条线索：{until}（{tz}）之后才能再次认领。"},
    "refusal.daily_limit": {"en": "You have reached the limit of {limit} claims in 24 hours. Try again later.",
                            "zh": "24 小时内最多认领 {limit} 条，你已达到上限，请稍后再试。"},
    "refusal.interval": {"en": "Claims must be at least {minutes} min apart. Try again in a moment.",
                         "zh": "两次认领至少间隔 {minutes} 分钟，请稍后再试。"},
    "refusal.lost_reason": {"en": "Say why the lead was lost.", "zh": "请填写流失原因。"},
    "refusal.reason_required": {"en": "Say why.", "zh": "请填写原因。"},
    "refusal.to_rep": {"en": "Choose a rep of your team.", "zh": "请选择你团队中的销售。"},
    "refusal.no_policy": {"en": "No routing policy has been applied yet.", "zh": "尚未应用分配策略。"},
    "refusal.not_in_pool": {"en": "That lead is not in a pool you can claim from (any more).",
                            "zh": "这条线索已不在你可认领的公海中。"},
    # the pool
    "pool.rules": {"en": "Claiming rules", "zh": "认领规则"},
    "pool.per_day": {"en": "Up to {limit} claims in 24 hours.", "zh": "24 小时内最多认领 {limit} 条。"},
    "pool.used": {"en": "You have claimed {used}.", "zh": "你已认领 {used} 条。"},
    "pool.no_limit": {"en": "No daily limit.", "zh": "没有每日上限。"},
    "pool.interval": {"en": "At least {minutes} min between two claims.", "zh": "两次认领至少间隔 {minutes} 分钟。"},
    "pool.cooldown": {"en": "A lead you had before: only after {days} days.", "zh": "你之前负责过的线索：{days} 天后才能再认领。"},
    "pool.empty": {"en": "The pool is empty.", "zh": "公海中暂无线索。"},
    "pool.claim": {"en": "Claim", "zh": "认领"},
    # the manager's pages
    "team.filter": {"en": "Filter", "zh": "筛选"},
    "team.any": {"en": "any", "zh": "全部"},
    "team.shown": {"en": "{shown} of {total} leads", "zh": "共 {total} 条，显示 {shown} 条"},
    "sla.breached": {"en": "breached", "zh": "已超时"},
    "sla.at_risk": {"en": "at risk (within the hour)", "zh": "即将超时（一小时内）"},
    "board.breaking": {"en": "Breaks in the next {minutes} min", "zh": "未来 {minutes} 分钟内将超时"},
    "board.breached": {"en": "Already breached", "zh": "已超时"},
    "board.nothing": {"en": "Nothing.", "zh": "无。"},
    "board.people": {"en": "Reps now", "zh": "销售状态"},
    "board.waiting": {"en": "{count} leads wait for an owner (queue, pool, held).",
                      "zh": "{count} 条线索在等待负责人（队列、公海、暂缓）。"},
    "board.available": {"en": "available", "zh": "可接单"},
    "board.overloaded": {"en": "overloaded", "zh": "负荷过高"},
    "board.off_shift": {"en": "off shift", "zh": "不在班"},
    "board.at_risk": {"en": "at risk", "zh": "有风险"},
    "avail.paused": {"en": "paused", "zh": "已暂停"},
    "avail.away": {"en": "out of office", "zh": "休假中"},
    "avail.full": {"en": "at capacity", "zh": "已满额"},
    "avail.daily_cap": {"en": "daily cap reached", "zh": "已达每日上限"},
    "avail.off_shift": {"en": "off shift", "zh": "不在班"},
    "fallback.title": {"en": "Fallback queue", "zh": "兜底队列"},
    "fallback.explain": {"en": "Leads no rule could place (queue {queue}) and leads held for later. Open one to reassign it.",
                         "zh": "没有规则能分配的线索（队列 {queue}）以及暂缓的线索。打开线索即可改派。"},
    "fallback.empty": {"en": "The fallback queue is empty.", "zh": "兜底队列为空。"},
    "credits.title": {"en": "Credits of {rep}", "zh": "{rep} 的积分"},
    "credits.explain": {"en": "Credits give (+) or take (−) leads from the rep's fair share; routing cites them.",
                        "zh": "积分会增加（+）或减少（−）该销售应得的线索份额，分配决策会引用它。"},
    "credits.grant": {"en": "Give or take", "zh": "增减积分"},
    "credits.delta": {"en": "Leads (−10 … +10)", "zh": "线索数（−10 … +10）"},
    "credits.reason": {"en": "Why", "zh": "原因"},
    "credits.submit": {"en": "Record", "zh": "记录"},
    "credits.none": {"en": "No entries yet.", "zh": "暂无记录。"},
    "credits.only_managers": {"en": "Only a manager or an admin can change credits.", "zh": "只有经理或管理员可以调整积分。"},
    "credits.reason_required": {"en": "Say why (at least 3 characters).", "zh": "请填写原因（至少 3 个字符）。"},
}


def register_messages(more: Mapping[str, Mapping[str, str]]) -> None:
    """Adds a page module's words. A key defined twice is a mistake, so it is refused."""
    taken = MESSAGES.keys() & more.keys()
    if taken:
        raise ValueError(f"console message keys defined twice: {sorted(taken)}")
    for key, texts in more.items():
        if set(texts) != set(LANGS):
            raise ValueError(f"console message {key!r} needs exactly {LANGS}, has {sorted(texts)}")
        MESSAGES[key] = dict(texts)


def t(lang: str, key: str, **fmt: object) -> str:
    """The text of ``key`` in ``lang`` (English when the language is unknown), formatted with
    ``fmt``. A missing key shows as the key itself, so a page never fails over a word."""
    texts = MESSAGES.get(key)
    if texts is None:
        return key
    text = texts.get(lang) or texts["en"]
    return text.format(**fmt) if fmt else text


def pick_language(accept_language: str | None) -> Lang:
    """The first of the browser's languages we have (``zh-CN,zh;q=0.9,en;q=0.8`` → zh)."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, index, tag.strip().lower()))
    for _, _, tag in sorted(ranked):
        base = tag.split("-")[0]
        if base in LANGS and base:
            return base  # type: ignore[return-value]
    return "en"


def as_lang(value: str | None) -> Lang | None:
    return value if value in LANGS else None  # type: ignore[return-value]
