"""Topic names, in one place. A dead-letter topic exists per consumer group: ``<topic>.dlq.<group>``."""

LEAD_RECEIVED = "lead.received"
LEAD_QUALIFIED = "lead.qualified"
LEAD_ASSIGNED = "lead.assigned"
LEAD_SLA = "lead.sla"
LEAD_ACTIVITY = "lead.activity"
PERSON_ERASED = "person.erased"

ALL = (LEAD_RECEIVED, LEAD_QUALIFIED, LEAD_ASSIGNED, LEAD_SLA, LEAD_ACTIVITY, PERSON_ERASED)


def dead_letter(topic: str, group: str) -> str:
    return f"{topic}.dlq.{group}"

# What each consumer group reads; every (topic, group) pair also has a dead-letter topic.
CONSUMERS: dict[str, tuple[str, ...]] = {
    "scoring": (LEAD_RECEIVED,),
    "router": (LEAD_QUALIFIED,),
    # activity: a "not mine" tells the manager. The same group queues webhook deliveries
    # (services/notifier/line.py): lead.qualified for person.merged, and person.erased.
    "notifier": (LEAD_ASSIGNED, LEAD_SLA, LEAD_ACTIVITY, LEAD_QUALIFIED, PERSON_ERASED),
}


def all_topics() -> list[str]:
    return list(ALL) + [dead_letter(topic, group) for group, reads in CONSUMERS.items() for topic in reads]
