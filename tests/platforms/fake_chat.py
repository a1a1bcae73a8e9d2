"""Faithful local doubles of the chat webhooks in /work/shared/PLATFORMS.md.

One Starlette app serves all five platforms. Each route checks what the real
platform checks (credential in the URL, signature and clock skew, size, payload
shape, keywords, rate limit) and answers with that platform's own signal, so the
adapters' `interpret_response` is tested against realistic answers.
[C] behaviour is enforced strictly; [S]/[U] behaviour (error codes and texts not
in an official doc, burst sizes) is configurable through attributes.

    chat = FakeChat()
    with chat.serve():
        url = chat.register("feishu", "tok", secret="s3cret")
        ... POST to url ...
        assert chat.messages("feishu")[0].payload["msg_type"] == "interactive"
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import math
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

PLATFORMS = ("slack", "teams", "feishu", "dingtalk", "wecom")
Window = tuple[int, float]  # (max accepted requests, window seconds)

DEFAULT_LIMITS: dict[str, tuple[Window, ...]] = {
    # "1 per second, short bursts >1 allowed" [C]; the burst size is not published [U].
    "slack": ((5, 5.0),),
    # Per connector, all windows at once [C].
    "teams": ((4, 1.0), (60, 30.0), (100, 3600.0), (150, 7200.0), (1800, 86400.0)),
    "feishu": ((5, 1.0), (100, 60.0)),  # [C]
    "dingtalk": ((20, 60.0),),  # [S], followed by a 10-minute block
    "wecom": ((20, 60.0),),  # [C]
}
DEFAULT_MAX_BODY: dict[str, int | None] = {
    "slack": None,  # Slack limits blocks and text, not bytes
    "teams": 28_000,  # ~28 KB [S], counted as the larger of UTF-8 and UTF-16
    "feishu": 20_000,  # 20 KB [C]
    "dingtalk": 20_000,  # [U]
    "wecom": None,  # WeCom limits content fields (2048/4096 bytes), see _check_wecom
}
SKEW_SECONDS = 3600  # Feishu [C] and DingTalk [S]: ±1 hour

TEAMS_ERROR = (
    "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error {}"
    " with ContextId tcid=0,server=fake,cv=fake"
)
ADAPTIVE = "application/vnd.microsoft.card.adaptive"
from tests.platforms.local_server import serving


@dataclass(frozen=True)
class Received:
    """One accepted message."""

    platform: str
    token: str
    payload: dict[str, Any]
    received_at: float  # the fake's clock, epoch seconds
    headers: dict[str, str]
    query: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Rejected:
    """One refused request; ``reason`` is the fake's label, the response is the platform's."""

    platform: str
    token: str
    status: int
    reason: str  # injected|unknown_token|auth|size|payload|keywords|rate_limited
    received_at: float


@dataclass
class Webhook:
    platform: str
    token: str
    secret: str | None = None  # Feishu/DingTalk signing secret; Teams Workflows `sig`
    keywords: tuple[str, ...] = ()  # Feishu/DingTalk "custom keywords" security setting
    flavor: str = "connector"  # Teams only: "connector" (200 `1`) or "workflow" (202)


@dataclass
class _Injected:
    status: int
    body: bytes
    headers: dict[str, str]
    delay: float


class _Refuse(Exception):
    def __init__(self, reason: str, response: Response) -> None:
        super().__init__(reason)
        self.reason, self.response = reason, response


class ManualClock:
    """A clock for the fake that only moves when told to (rate windows, timestamp skew)."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeChat:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._initial_clock = clock
        self._lock = threading.Lock()
        self.base_url: str | None = None
        self.app = Starlette(routes=[
            Route("/slack/services/{token:path}", self._slack, methods=["POST"]),
            Route("/slack/actions/{token:path}", self._slack_response, methods=["POST"]),
            Route("/teams/webhookb2/{token:path}", self._teams, methods=["POST"]),
            Route("/teams/workflows/{token}/paths/invoke", self._teams, methods=["POST"]),
            Route("/feishu/open-apis/bot/v2/hook/{token}", self._feishu, methods=["POST"]),
            Route("/dingtalk/robot/send", self._dingtalk, methods=["POST"]),
            Route("/wecom/cgi-bin/webhook/send", self._wecom, methods=["POST"]),
        ])
        self.reset()

    # -- test API ----------------------------------------------------------------------

    def reset(self) -> None:
        """Forget webhooks, records, injected failures; restore default limits and clock."""
        with self._lock:
            self.clock = self._initial_clock
            self.hooks: dict[tuple[str, str], Webhook] = {}
            self.received: list[Received] = []
            self.responses: list[Received] = []  # posts to Slack response_urls (updates of a clicked message)
            self.rejected: list[Rejected] = []
            self.limits = dict(DEFAULT_LIMITS)
            self.max_body = dict(DEFAULT_MAX_BODY)
            # DingTalk blocks a robot for 10 minutes after it exceeds its rate [S].
            self.dingtalk_block_seconds = 600.0
            # Connectors "do not throw 429s": the throttle is in the body [C]; the status is [U].
            self.teams_throttle_status = 200
            self._injected: dict[str, deque[_Injected]] = defaultdict(deque)
            self._sent: dict[tuple[str, str], deque[float]] = defaultdict(deque)
            self._blocked_until: dict[tuple[str, str], float] = {}

    def register(self, platform: str, token: str, *, secret: str | None = None,
                 keywords: tuple[str, ...] = (), flavor: str = "connector") -> str:
        """Creates a webhook like the platform's admin UI would; returns its URL (server must be running)."""
        if platform not in PLATFORMS:
            raise ValueError(platform)
        if platform == "teams" and flavor == "workflow" and secret is None:
            secret = f"sig-{token}"
        with self._lock:
            self.hooks[(platform, token)] = Webhook(platform, token, secret, tuple(keywords), flavor)
        return self.webhook_url(platform, token)

    def unregister(self, platform: str, token: str) -> None:
        """The webhook is revoked / the robot removed from the group."""
        with self._lock:
            self.hooks.pop((platform, token), None)

    def webhook_url(self, platform: str, token: str) -> str:
        """The URL the platform would show for ``token`` (registered or not)."""
        if self.base_url is None:
            raise RuntimeError("FakeChat is not serving; use `with chat.serve():`")
        base = self.base_url
        hook = self.hooks.get((platform, token))
        match platform:
            case "slack":
                return f"{base}/slack/services/{token}"
            case "teams" if hook and hook.flavor == "workflow":
                sig = quote(hook.secret or "")
                return f"{base}/teams/workflows/{quote(token)}/paths/invoke?api-version=2016-06-01&sig={sig}"
            case "teams":
                return f"{base}/teams/webhookb2/{token}"
            case "feishu":
                return f"{base}/feishu/open-apis/bot/v2/hook/{quote(token)}"
            case "dingtalk":
                return f"{base}/dingtalk/robot/send?access_token={quote(token)}"
            case "wecom":
                return f"{base}/wecom/cgi-bin/webhook/send?key={quote(token)}"
        raise ValueError(platform)

    def set_limits(self, platform: str, *windows: Window) -> None:
        """Replaces the rate limit, e.g. ``set_limits("wecom", (2, 60.0))``; no windows = unlimited."""
        with self._lock:
            self.limits[platform] = tuple(windows)

    def fail_next(self, platform: str, count: int = 1, *, status: int = 500, body: bytes | str = b"",
                  headers: dict[str, str] | None = None, delay: float = 0.0) -> None:
        """The next ``count`` requests to ``platform`` get this raw answer (after ``delay`` s), whatever they carry."""
        raw = body.encode() if isinstance(body, str) else body
        with self._lock:
            for _ in range(count):
                self._injected[platform].append(_Injected(status, raw, dict(headers or {}), delay))

    def pending_failures(self, platform: str) -> int:
        """How many injected answers (``fail_next``) are still waiting for a request."""
        with self._lock:
            return len(self._injected[platform])

    def clear_failures(self, platform: str) -> None:
        """Drops the injected answers no request has taken yet: the platform is healthy again."""
        with self._lock:
            self._injected[platform].clear()

    def messages(self, platform: str | None = None, token: str | None = None) -> list[Received]:
        with self._lock:
            return [m for m in self.received if platform in (None, m.platform) and token in (None, m.token)]

    def slack_responses(self, token: str | None = None) -> list[Received]:
        """What was posted to the response_urls of Slack clicks (``slack_click``), in order."""
        with self._lock:
            return [r for r in self.responses if token in (None, r.token)]

    def response_url(self, token: str) -> str:
        """A click's response_url, as Slack puts it in the interaction payload [C]: Slack's own
        host there, this server here."""
        if self.base_url is None:
            raise RuntimeError("FakeChat is not serving; use `with chat.serve():`")
        return f"{self.base_url}/slack/actions/{token}"

    def slack_click(self, message: Received, action_id: str, user_id: str, *, signing_secret: str,
                    timestamp: int | None = None, response_token: str = "T000/1234/click") -> tuple[bytes, dict[str, str]]:
        """A press of the button ``action_id`` on a Slack ``message`` this server received, by
        Slack user ``user_id``: the body and headers Slack would POST to the app's Interactivity
        Request URL (``payload=`` form field, v0 signature over the raw body) [C]."""
        buttons = [e for b in message.payload.get("blocks", []) if b.get("type") == "actions"
                   for e in b.get("elements", [])]
        [button] = [b for b in buttons if b.get("action_id") == action_id]
        block_id = next(b.get("block_id", "b1") for b in message.payload["blocks"]
                        if button in b.get("elements", []))
        ts = int(self.clock()) if timestamp is None else timestamp
        action = {"type": "button", "action_id": action_id, "block_id": block_id, "text": button["text"],
                  "action_ts": f"{ts}.000100"}
        if "value" in button:  # a URL button's click is reported too, with no value to act on
            action["value"] = button["value"]
        payload = {
            "type": "block_actions", "user": {"id": user_id, "username": user_id.lower(), "team_id": "T000"},
            "api_app_id": "A000", "token": "legacy-verification-token", "trigger_id": f"{ts}.1.abc",
            "team": {"id": "T000", "domain": "example"}, "container": {"type": "message", "message_ts": f"{ts}.0"},
            "channel": {"id": "C000", "name": "leads"},
            "message": {"type": "message", "ts": f"{ts}.0", "text": message.payload.get("text", ""),
                        "blocks": message.payload.get("blocks", [])},
            "response_url": self.response_url(response_token), "actions": [action],
        }
        return slack_interaction_body(payload, signing_secret, ts)

    def rejections(self, platform: str | None = None, reason: str | None = None) -> list[Rejected]:
        with self._lock:
            return [r for r in self.rejected if platform in (None, r.platform) and reason in (None, r.reason)]

    @contextmanager
    def serve(self) -> Iterator[FakeChat]:
        """Runs the app with uvicorn on 127.0.0.1, ephemeral port, in a background thread."""
        with serving(self.app, "fake chat server") as base_url:
            self.base_url = base_url
            yield self
            self.base_url = None

    # -- common pipeline ---------------------------------------------------------------

    async def _handle(self, platform: str, token: str | None, request: Request,
                      check: Callable[[Webhook, Request, bytes, float], dict[str, Any]]) -> Response:
        raw = await request.body()
        now = self.clock()
        token = token or ""
        with self._lock:
            injected = self._injected[platform].popleft() if self._injected[platform] else None
            hook = self.hooks.get((platform, token))
        try:
            if injected:
                if injected.delay:
                    await asyncio.sleep(injected.delay)
                raise _Refuse("injected", Response(injected.body, injected.status, headers=injected.headers))
            if hook is None:
                raise _Refuse("unknown_token", self._unknown(platform))
            try:
                payload = check(hook, request, raw, now)
            except (AttributeError, KeyError, TypeError, ValueError):
                # A structurally odd body (a list where an object belongs, …) is a bad payload, not a crash.
                raise _Refuse("payload", self._malformed(platform)) from None
            if hook.keywords and not any(k in json.dumps(payload, ensure_ascii=False) for k in hook.keywords):
                raise _Refuse("keywords", self._no_keywords(platform))
            wait = self._admit(platform, token, now)
            if wait is not None:
                raise _Refuse("rate_limited", self._throttled(platform, hook, wait))
        except _Refuse as refused:
            with self._lock:
                self.rejected.append(Rejected(platform, token, refused.response.status_code, refused.reason, now))
            return refused.response
        query = {k: v[-1] for k, v in parse_qs(request.url.query).items()}
        with self._lock:
            self.received.append(Received(platform, token, payload, now, dict(request.headers), query, raw))
        return self._accepted(platform, hook)

    def _admit(self, platform: str, token: str, now: float) -> float | None:
        """Counts an accepted send; returns seconds to wait instead if any window is full."""
        key = (platform, token)
        with self._lock:
            windows = self.limits.get(platform, ())
            if now < self._blocked_until.get(key, -math.inf):
                return self._blocked_until[key] - now
            sent = self._sent[key]
            waits = []
            for limit, span in windows:
                recent = [t for t in sent if t > now - span]
                if len(recent) >= limit:
                    waits.append(recent[-limit] + span - now)
            if waits:
                if platform == "dingtalk" and self.dingtalk_block_seconds:
                    self._blocked_until[key] = now + self.dingtalk_block_seconds
                    return self.dingtalk_block_seconds
                return max(waits)
            sent.append(now)
            longest = max((span for _, span in windows), default=0.0)
            while sent and sent[0] <= now - longest:
                sent.popleft()
            return None

    def _too_big(self, platform: str, raw: bytes) -> bool:
        limit = self.max_body.get(platform)
        if limit is None:
            return False
        size = len(raw)
        if platform == "teams":
            size = max(size, len(raw.decode(errors="replace").encode("utf-16-le")))
        return size > limit

    # -- per-platform answers ------------------------------------------------------------

    def _accepted(self, platform: str, hook: Webhook) -> Response:
        match platform:
            case "slack":
                return PlainTextResponse("ok")  # [S]
            case "teams":
                return Response(status_code=202) if hook.flavor == "workflow" else PlainTextResponse("1")  # [S]/[C]
            case "feishu":
                # StatusCode/StatusMessage are legacy duplicates of code/msg [C].
                return JSONResponse({"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"})
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

    def _unknown(self, platform: str) -> Response:
        match platform:
            case "slack":
                return PlainTextResponse("no_service", 404)  # [S]
            case "teams":
                return PlainTextResponse("", 404)  # [U]
            case "feishu":
                return _lark(19001, "param invalid: incoming webhook access token invalid")  # [U]
            case "dingtalk":
                return _errcode(300001, "token is not exist")  # [U]
        return _errcode(93000, "invalid webhook url")  # [S]

    def _malformed(self, platform: str) -> Response:
        match platform:
            case "slack":
                return PlainTextResponse("invalid_payload", 400)  # [C]
            case "teams":
                return PlainTextResponse("Bad payload received by generic incoming webhook.", 400)  # [U]
            case "feishu":
                return _lark(9499, "Bad Request")  # [C]
            case "dingtalk":
                return _errcode(40035, "缺少参数 json")  # [U]
        return _errcode(40001, "invalid json")  # [U]

    def _no_keywords(self, platform: str) -> Response:
        if platform == "feishu":
            return _lark(19024, "Key Words Not Found")  # [C]
        return _errcode(310000, "keywords not in content")  # [S]

    def _throttled(self, platform: str, hook: Webhook, wait: float) -> Response:
        retry = str(max(1, math.ceil(wait)))
        match platform:
            case "slack":
                return PlainTextResponse("rate_limited", 429, headers={"Retry-After": retry})  # [C] 429 + Retry-After
            case "teams" if hook.flavor == "workflow":
                return PlainTextResponse("", 429, headers={"Retry-After": retry})  # Power Automate throttling [U]
            case "teams":
                return PlainTextResponse(TEAMS_ERROR.format(429), self.teams_throttle_status)
            case "feishu":
                return _lark(11232, "frequency limited psm[lark.oapi.app_platform_runtime]appID[1]")  # code [C]
            case "dingtalk":
                return _errcode(130101, "send too fast, exceed 20 times per minute")  # [S]
        return _errcode(45009, "api freq out of limit")  # [S]

    # -- per-platform checks ---------------------------------------------------------------

    async def _slack(self, request: Request) -> Response:
        return await self._handle("slack", request.path_params["token"], request, self._check_slack)

    def _check_slack(self, hook: Webhook, request: Request, raw: bytes, now: float) -> dict[str, Any]:
        def bad(code: str) -> _Refuse:
            return _Refuse("payload", PlainTextResponse(code, 400))  # plain-text codes [C]

        ctype = request.headers.get("content-type", "")
        try:
            if ctype.startswith("application/json"):
                payload = json.loads(raw)
            elif ctype.startswith("application/x-www-form-urlencoded"):
                payload = json.loads(parse_qs(raw.decode())["payload"][0])
            else:
                raise ValueError(ctype)
        except (ValueError, KeyError, UnicodeDecodeError):
            raise bad("invalid_payload") from None  # body doesn't match its content type [C]
        if not isinstance(payload, dict):
            raise bad("invalid_payload")
        blocks = payload.get("blocks")
        if not payload.get("text") and not blocks and not payload.get("attachments"):
            raise bad("no_text")  # [S]
        if blocks is not None and not _valid_slack_blocks(blocks):
            raise bad("invalid_blocks")  # [S]
        return payload

    async def _slack_response(self, request: Request) -> Response:
        """A response_url: JSON with ``text`` and/or ``blocks`` (checked like a message's), and
        ``replace_original`` / ``response_type`` [C]; the answer's body is [U]."""
        raw = await request.body()
        token = request.path_params["token"]
        try:
            payload = _json_object(raw)
            blocks = payload.get("blocks")
            if not payload.get("text") and not blocks:
                raise ValueError("no_text")
            if blocks is not None and not _valid_slack_blocks(blocks):
                raise ValueError("invalid_blocks")
            if payload.get("response_type", "ephemeral") not in ("ephemeral", "in_channel"):
                raise ValueError("invalid_response_type")
        except (ValueError, AttributeError, KeyError, TypeError) as exc:
            with self._lock:
                self.rejected.append(Rejected("slack", token, 400, "payload", self.clock()))
            return PlainTextResponse(str(exc) if str(exc) in ("no_text", "invalid_blocks") else "invalid_payload", 400)
        with self._lock:
            self.responses.append(Received("slack", token, payload, self.clock(), dict(request.headers), {}, raw))
        return PlainTextResponse("ok")

    async def _teams(self, request: Request) -> Response:
        return await self._handle("teams", request.path_params["token"], request, self._check_teams)

    def _check_teams(self, hook: Webhook, request: Request, raw: bytes, now: float) -> dict[str, Any]:
        workflow = hook.flavor == "workflow"
        if workflow != request.url.path.startswith("/teams/workflows/"):
            raise _Refuse("unknown_token", self._unknown("teams"))
        if workflow and not hmac.compare_digest(request.query_params.get("sig", ""), hook.secret or ""):
            # The SAS `sig` is the Workflows credential [U]; Logic Apps answers 401.
            raise _Refuse("auth", JSONResponse({"error": {"code": "DirectApiInvalidAuthorizationScheme"}}, 401))
        if self._too_big("teams", raw):
            raise _Refuse("size", PlainTextResponse(TEAMS_ERROR.format(413), 413))  # [S]
        payload = _json_object(raw)
        problem = _teams_problem(payload, workflow)
        if problem:
            # Workflows accept first (202) and the flow run fails later [U]: nothing is posted.
            status = 202 if workflow else 400
            raise _Refuse("payload", PlainTextResponse("" if workflow else problem, status))
        return payload

    async def _feishu(self, request: Request) -> Response:
        return await self._handle("feishu", request.path_params["token"], request, self._check_feishu)

    def _check_feishu(self, hook: Webhook, request: Request, raw: bytes, now: float) -> dict[str, Any]:
        if self._too_big("feishu", raw):
            raise _Refuse("size", self._malformed("feishu"))  # 9499 also for a too-big body [C]
        payload = _json_object(raw)
        if hook.secret:
            ts, sig = str(payload.get("timestamp", "")), str(payload.get("sign", ""))
            fresh = ts.isdigit() and abs(now - int(ts)) <= SKEW_SECONDS
            if not (fresh and hmac.compare_digest(sig, feishu_sign(hook.secret, ts))):
                msg = "sign match fail or timestamp is not within one hour from current time"
                raise _Refuse("auth", _lark(19021, msg))  # [C]
        if not _valid_feishu(payload):
            raise _Refuse("payload", self._malformed("feishu"))
        return payload

    async def _dingtalk(self, request: Request) -> Response:
        token = request.query_params.get("access_token")
        if not token:
            now = self.clock()
            with self._lock:
                self.rejected.append(Rejected("dingtalk", "", 200, "unknown_token", now))
            return _errcode(40035, "缺少参数 access_token")  # [S]
        return await self._handle("dingtalk", token, request, self._check_dingtalk)

    def _check_dingtalk(self, hook: Webhook, request: Request, raw: bytes, now: float) -> dict[str, Any]:
        if hook.secret:
            ts, sig = request.query_params.get("timestamp", ""), request.query_params.get("sign", "")
            if not ts.isdigit() or abs(now * 1000 - int(ts)) > SKEW_SECONDS * 1000:
                raise _Refuse("auth", _errcode(310000, "invalid timestamp"))  # [S]
            # query_params decoded the sign once, as DingTalk does; an un-encoded `+` arrives as a space.
            if not hmac.compare_digest(sig, dingtalk_sign(hook.secret, ts)):
                raise _Refuse("auth", _errcode(310000, "sign not match"))  # [S]
        if self._too_big("dingtalk", raw):
            raise _Refuse("size", _errcode(460101, "message too long"))  # [U]
        payload = _json_object(raw)
        if not _valid_dingtalk(payload):
            raise _Refuse("payload", self._malformed("dingtalk"))
        return payload

    async def _wecom(self, request: Request) -> Response:
        return await self._handle("wecom", request.query_params.get("key"), request, self._check_wecom)

    def _check_wecom(self, hook: Webhook, request: Request, raw: bytes, now: float) -> dict[str, Any]:
        payload = _json_object(raw)
        problem = _wecom_problem(payload)
        if problem:
            reason, code, msg = problem
            raise _Refuse(reason, _errcode(code, msg))
        return payload


# -- signatures (the platforms' algorithms, written independently of the adapters) ----------


def feishu_sign(secret: str, timestamp: str) -> str:
    """Key = f"{timestamp}\\n{secret}", message empty [C]."""
    mac = hmac.new(f"{timestamp}\n{secret}".encode(), digestmod=hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def dingtalk_sign(secret: str, timestamp_ms: str) -> str:
    """Key = secret, message = f"{timestamp_ms}\\n{secret}"; base64 before URL-encoding [S]."""
    mac = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def slack_signature(signing_secret: str, timestamp: str, body: bytes) -> str:
    """``v0=`` + hex HMAC_SHA256(key=signing secret, msg=f"v0:{timestamp}:" + raw body) [C]."""
    mac = hmac.new(signing_secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return "v0=" + mac.hexdigest()


def slack_interaction_body(payload: dict[str, Any], signing_secret: str, timestamp: int) -> tuple[bytes, dict[str, str]]:
    """An interaction as Slack sends it: form-encoded ``payload=<JSON>``, signed [C]."""
    body = urlencode({"payload": json.dumps(payload, ensure_ascii=False)}).encode()
    return body, {"Content-Type": "application/x-www-form-urlencoded",
                  "X-Slack-Request-Timestamp": str(timestamp),
                  "X-Slack-Signature": slack_signature(signing_secret, str(timestamp), body)}


# -- payload shapes ------------------------------------------------------------------------


def _json_object(raw: bytes) -> dict[str, Any]:
    """Raises ValueError unless the body is a JSON object (the pipeline turns that into a bad-payload answer)."""
    payload = json.loads(raw)
    if not isinstance(payload, dict):
        raise ValueError("not a JSON object")
    return payload


def _lark(code: int, msg: str) -> JSONResponse:
    return JSONResponse({"code": code, "msg": msg, "data": {}})  # always HTTP 200 [C]


def _errcode(code: int, msg: str) -> JSONResponse:
    return JSONResponse({"errcode": code, "errmsg": msg})  # always HTTP 200


def _text(node: Any, limit: int | None = None) -> bool:
    return isinstance(node, str) and bool(node) and (limit is None or len(node) <= limit)


def _valid_slack_blocks(blocks: Any) -> bool:
    # Block Kit limits: 50 blocks, header 150, section text 3000 [S], 10 fields of 2000, url 3000.
    if not isinstance(blocks, list) or not 0 < len(blocks) <= 50:
        return False
    for block in blocks:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "header":
            ok = block["text"].get("type") == "plain_text" and _text(block["text"].get("text"), 150)
        elif kind == "section":
            text, fields = block.get("text"), block.get("fields")
            ok = (text is not None or fields is not None) \
                and (text is None or _text(text.get("text"), 3000)) \
                and (fields is None or (len(fields) <= 10 and all(_text(f.get("text"), 2000) for f in fields)))
        elif kind == "actions":
            ok = 0 < len(block.get("elements", [])) <= 25 and all(
                _text(e.get("text", {}).get("text"), 75) and ("url" not in e or _text(e["url"], 3000))
                for e in block["elements"])
        else:
            ok = kind in {"context", "divider", "image", "rich_text", "input", "file", "video"}
        if not ok:
            return False
    return True


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _teams_problem(payload: dict[str, Any], workflow: bool) -> str | None:
    attachments = payload.get("attachments")
    if attachments:
        # type must be "message" and each attachment an Adaptive Card [C]; no Action.Submit [C].
        cards_ok = payload.get("type") == "message" and all(
            isinstance(a, dict) and a.get("contentType") == ADAPTIVE and isinstance(a.get("content"), dict)
            and a["content"].get("type") == "AdaptiveCard" and isinstance(a["content"].get("body"), list)
            for a in attachments)
        if not cards_ok or any(n.get("type") == "Action.Submit" for n in _walk(attachments)):
            return "Summary or Text is required."
        return None
    if workflow:
        return "Adaptive Cards only"  # MessageCard / plain text not supported by Workflows [C]
    if _text(payload.get("text")) or _text(payload.get("summary")):
        return None
    return "Summary or Text is required."  # [S]


def _valid_feishu(payload: dict[str, Any]) -> bool:
    content = payload.get("content") if isinstance(payload.get("content"), dict) else {}
    match payload.get("msg_type"):
        case "text":
            return _text(content.get("text"))
        case "post":
            return isinstance(content.get("post"), dict)
        case "image":
            return _text(content.get("image_key"))
        case "share_chat":
            return _text(content.get("share_chat_id"))
        case "interactive":
            # The card is a top-level `card` object, not inside `content` [C]; schema 1.0 or 2.0.
            card = payload.get("card")
            if not isinstance(card, dict):
                return False
            elements = card.get("elements") if card.get("schema") != "2.0" else (card.get("body") or {}).get("elements")
            return isinstance(elements, list)
    return False


def _valid_dingtalk(payload: dict[str, Any]) -> bool:
    kind = payload.get("msgtype")
    body = payload.get(kind) if isinstance(kind, str) else None
    if not isinstance(body, dict):
        return False
    match kind:
        case "text":
            return _text(body.get("content"))
        case "markdown":
            return _text(body.get("title")) and _text(body.get("text"))
        case "actionCard":
            single = _text(body.get("singleTitle")) and _text(body.get("singleURL"))
            btns = body.get("btns")
            multi = isinstance(btns, list) and bool(btns) and all(
                _text(b.get("title")) and _text(b.get("actionURL")) for b in btns)
            return _text(body.get("title")) and _text(body.get("text")) and (single or multi)
        case "link":
            return _text(body.get("title")) and _text(body.get("text")) and _text(body.get("messageUrl"))
        case "feedCard":
            return isinstance(body.get("links"), list) and bool(body["links"])
    return False


def _wecom_problem(payload: dict[str, Any]) -> tuple[str, int, str] | None:
    """WeCom's errcode for a bad payload; the codes are [U], the limits [C]."""
    kind = payload.get("msgtype")
    body = payload.get(kind) if isinstance(kind, str) else None
    if kind not in {"text", "markdown", "markdown_v2", "image", "news", "file", "voice", "template_card"}:
        return ("payload", 40008, "invalid message type")
    if not isinstance(body, dict):
        return ("payload", 44004, "empty content")
    if kind in {"text", "markdown", "markdown_v2"}:
        content = body.get("content")
        if not _text(content):
            return ("payload", 44004, "empty content")
        limit = 2048 if kind == "text" else 4096  # bytes [C]
        if len(content.encode()) > limit:
            return ("size", 40058, f"{kind}.content exceed max length {limit}")
    if kind == "template_card":
        action = body.get("card_action")
        if body.get("card_type") not in {"text_notice", "news_notice"}:
            return ("payload", 40058, "invalid card_type")
        if not isinstance(action, dict) or action.get("type") not in (1, 2):
            return ("payload", 40058, "card_action required")  # required [C]
        if len(body.get("jump_list", [])) > 3 or len(body.get("horizontal_content_list", [])) > 6:
            return ("payload", 40058, "too many jump_list or horizontal_content_list items")  # [C]
    return None
