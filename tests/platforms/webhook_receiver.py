"""A local stand-in for a Standard Webhooks receiver (a subscriber's endpoint), checking what a
real one checks with the maintained ``standardwebhooks`` library: the three ``webhook-*`` headers,
the signature over the exact body bytes with the subscriber's ``whsec_`` secret, a timestamp within
five minutes of the receiver's clock. A bad request is refused (401) and recorded as refused.

It can be made to fail the ways a subscriber fails: answer 500 (before or after it took the
message: the latter is the "processed but the 2xx was lost" case that makes duplicates), 429 with
a ``Retry-After``, 410 Gone, or be down altogether (``stop()``: connection refused, then ``start()``
on the same port).

The clock: ``Webhook.verify`` reads the machine's time; the product's clock in tests is a
FakeClock years away. So the receiver checks the timestamp against its ``clock`` (the product's
clock, as a receiver's NTP-synced clock would agree with ours), and the signature with the
library's ``Webhook.sign`` over the received id, timestamp and body, compared in constant time
with every ``v1`` entry, exactly as ``Webhook.verify`` does after its own time check.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class Received:
    id: str
    timestamp: int
    type: str
    data: dict[str, Any]
    signature: str
    body: bytes


@dataclass(frozen=True)
class Failure:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    after_taking_it: bool = False  # record the message, then answer the failure


def verify(secret: str, body: bytes, headers: dict[str, str], now: datetime) -> str:
    """The message id if the request is signed with ``secret`` within the window at ``now``;
    raises ValueError naming what failed."""
    headers = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp, signatures = (headers.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not (msg_id and stamp and signatures):
        raise ValueError("missing headers")
    sent_at = datetime.fromtimestamp(float(stamp), UTC)
    if abs(sent_at - now) > TOLERANCE:
        raise ValueError("timestamp outside the window")
    expected = Webhook(secret).sign(msg_id=msg_id, timestamp=sent_at, data=body.decode())
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures.split(" ")
               if candidate.startswith("v1,")):
        raise ValueError("no matching signature")
    return msg_id


class WebhookReceiver:
    def __init__(self, secret: str, clock: Callable[[], datetime]) -> None:
        self.secret = secret
        self.clock = clock
        self.received: list[Received] = []
        self.refused: list[str] = []  # why each refused request was refused
        self.failures: deque[Failure] = deque()
        self._lock = threading.Lock()
        self.port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.app = Starlette(routes=[Route("/hooks/{name}", self._receive, methods=["POST"])])

    @property
    def url(self) -> str:
        assert self.port is not None, "start the receiver first"
        return f"http://127.0.0.1:{self.port}/hooks/leadrelay"

    def fail(self, status: int, times: int = 1, headers: dict[str, str] | None = None, *,
             after_taking_it: bool = False) -> None:
        with self._lock:
            self.failures.extend([Failure(status, headers or {}, after_taking_it)] * times)

    def ids(self) -> list[str]:
        return [r.id for r in self.received]

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        try:
            msg_id = verify(self.secret, body, dict(request.headers), self.clock())
        except (ValueError, UnicodeDecodeError) as exc:
            with self._lock:
                self.refused.append(str(exc))
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        with self._lock:
            failure = self.failures.popleft() if self.failures else None
        payload = json.loads(body)
        message = Received(id=msg_id, timestamp=int(request.headers["webhook-timestamp"]), type=payload["type"],
                           data=payload["data"], signature=request.headers["webhook-signature"], body=body)
        if failure is not None and not failure.after_taking_it:
            return Response(status_code=failure.status, headers=failure.headers)
        with self._lock:
            self.received.append(message)
        if failure is not None:
            return Response(status_code=failure.status, headers=failure.headers)
        return Response(status_code=204)

    def start(self) -> None:
        """Listens on 127.0.0.1 (the same port as before, after a ``stop``)."""
        server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port or 0, log_level="warning",
                                               lifespan="off", access_log=False))
        thread = threading.Thread(target=server.run, name="webhook-receiver", daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the webhook receiver did not start")
            time.sleep(0.01)
        self.port = server.servers[0].sockets[0].getsockname()[1]
        self._server, self._thread = server, thread

    def stop(self) -> None:
        """Closes the port: connections are refused until ``start``."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None

    @contextmanager
    def serve(self) -> Iterator[WebhookReceiver]:
        self.start()
        try:
            yield self
        finally:
            self.stop()
