"""Generates docs/asyncapi.yaml (AsyncAPI 3.0) from what each service publishes.

Each service's `adapters/outgoing.py` maps its domain event classes to versioned CloudEvent types;
the payload schema of each type is the JSON Schema of its event class, inside the CloudEvents
envelope. `python -m infra.asyncapi` rewrites the file; a test fails when it is out of date.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter
from shared.events import EventEnvelope

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "asyncapi.yaml"
PRODUCERS = {  # service → (package, topic constant)
    "contacts": ("contacts", "CONTACTS_EVENTS"),
    "consent": ("consent", "CONSENT_EVENTS"),
    "campaign-gate": ("campaign_gate", "CAMPAIGNS_EVENTS"),
}


def _event_types(package: str) -> dict[type, str]:
    outgoing = importlib.import_module(f"{package}.adapters.outgoing")
    return getattr(outgoing, "EVENT_TYPES", None) or outgoing._TYPES  # noqa: SLF001


def _summary(event_class: type) -> str:
    """Returns the first paragraph of the event class's docstring, on one line."""
    first_paragraph = inspect.cleandoc(event_class.__doc__ or "").split("\n\n")[0]
    return " ".join(line.strip() for line in first_paragraph.splitlines())


def _name(event_type: str) -> str:
    return event_type.removeprefix("vigie.").replace(".", "_")


def build() -> dict[str, Any]:
    """Returns the AsyncAPI document as a mapping."""
    envelope = EventEnvelope.model_json_schema()
    envelope["properties"].pop("data", None)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {"CloudEventEnvelope": envelope}
    for service, (package, topic_name) in PRODUCERS.items():
        contracts = importlib.import_module(f"{package}.contracts")
        topic = getattr(contracts, topic_name)
        channel_messages = {}
        for event_class, event_type in sorted(_event_types(package).items(), key=lambda item: item[1]):
            name = _name(event_type)
            data_schema = TypeAdapter(event_class).json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(data_schema.pop("$defs", {}))
            schemas[f"{name}_data"] = data_schema
            messages[name] = {
                "name": event_type,
                "title": event_class.__name__,
                "summary": _summary(event_class),
                "contentType": "application/cloudevents+json",
                "headers": {
                    "type": "object",
                    "properties": {
                        "ce_id": {"type": "string"},
                        "ce_type": {"const": event_type},
                        "traceparent": {"type": "string"},
                        "correlationid": {"type": "string"},
                    },
                },
                "payload": {
                    "allOf": [
                        {"$ref": "#/components/schemas/CloudEventEnvelope"},
                        {
                            "type": "object",
                            "properties": {
                                "type": {"const": event_type},
                                "data": {"$ref": f"#/components/schemas/{name}_data"},
                            },
                        },
                    ]
                },
                "bindings": {
                    "kafka": {
                        "key": {
                            "type": "string",
                            "description": "the subject: the contact id for facts about a person, else the "
                            "aggregate's own id",
                        }
                    }
                },
            }
            channel_messages[name] = {"$ref": f"#/components/messages/{name}"}
        channels[topic] = {
            "address": topic,
            "description": f"Events published by {service} (via its outbox).",
            "messages": channel_messages,
        }
        operations[f"{package}_publishes"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{topic}"},
            "summary": f"{service} publishes through its transactional outbox.",
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Vigie events",
            "version": "1.0.0",
            "description": "CloudEvents 1.0 (structured mode) on Kafka. "
            "Events carry no direct identifier of a person; "
            "delivery is at-least-once and consumers dedupe on the event id. Undecodable records go to "
            "`<topic>.dlq` with `dlq-group`, `dlq-error-class`, `dlq-error-message`, `dlq-topic`, "
            "`dlq-partition`, `dlq-offset` (and `dlq-error`, `dlq-source`) headers.",
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def render() -> str:
    """Returns the YAML text of the document."""
    return "# Generated by `python -m infra.asyncapi`; do not edit by hand.\n" + yaml.safe_dump(
        build(), sort_keys=False, allow_unicode=True, width=110
    )


def main() -> int:
    TARGET.write_text(render())
    print(f"wrote {TARGET.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
