"""The notifier's consumer group: chat messages and webhook deliveries for the same events.

One group, one offset, one exactly-once transaction per event: the chat handler queues chat
deliveries and the fan-out queues webhook deliveries, each only for the event types it takes.
Neither calls anyone (their senders drain the rows), so a chat platform's or a subscriber's
outage holds up neither the other nor the event line.
"""

from __future__ import annotations

from typing import Any, ClassVar

from leadrelay.services.notifier.handler import NotifierHandler
from leadrelay.services.notifier.webhook_handler import WebhookFanout
from leadrelay.shared.events import Contract, Envelope


class NotifierLine:
    name: ClassVar[str] = "notifier"

    def __init__(self, chat: NotifierHandler, webhooks: WebhookFanout) -> None:
        self.parts: tuple[Any, ...] = (chat, webhooks)
        # Every type either part takes; the consumer loop dead-letters any other.
        self.events: tuple[type[Contract], ...] = tuple(dict.fromkeys(e for part in self.parts for e in part.events))

    async def __call__(self, event: Contract, envelope: Envelope, uow: Any) -> None:
        for part in self.parts:
            if isinstance(event, part.events):
                await part(event, envelope, uow)
