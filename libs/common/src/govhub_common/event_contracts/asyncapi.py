"""The AsyncAPI 3.0 document of the bus, from the event contracts: one channel per event
type (its routing key on the topic exchange `govhub.events`), the CloudEvents 1.0 envelope
(structured JSON) around each type's data, and who sends each. Written to
docs/asyncapi.json by `govhub openapi` and checked for drift like the OpenAPI documents."""

from __future__ import annotations

import json
from typing import Any

from pydantic.json_schema import models_json_schema

from govhub_common.event_contracts import CONTRACTS

EXCHANGE = "govhub.events"  # GOVHUB_AMQP_EXCHANGE's default
ENVELOPE_FIELDS = {
    "specversion": {"const": "1.0"},
    "id": {
        "type": "string",
        "minLength": 1,
        "description": "Unique per event; a UUID for govhub's own.",
    },
    "source": {"type": "string", "description": "govhub/<service>"},
    "type": {"type": "string"},
    "subject": {"type": ["string", "null"]},
    "time": {"type": "string", "format": "date-time"},
    "datacontenttype": {"const": "application/json"},
    "traceparent": {"type": "string", "description": "W3C Trace Context of the producing request."},
}


def _message_name(event_type: str) -> str:
    return "".join(part.capitalize() for part in event_type.replace("_", ".").split("."))


def build_asyncapi(version: str) -> dict[str, Any]:
    models = {c.data for c in CONTRACTS.values()}
    refs, defs = models_json_schema(
        [(model, "validation") for model in sorted(models, key=lambda m: m.__name__)],
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for event_type, contract in sorted(CONTRACTS.items()):
        name = _message_name(event_type)
        data_ref = refs[(contract.data, "validation")]["$ref"]
        messages[name] = {
            "name": event_type,
            "title": event_type,
            "summary": contract.summary,
            "contentType": "application/json",
            "payload": {
                "type": "object",
                "description": "A CloudEvent 1.0 in structured JSON; `data` per the contract.",
                "required": ["specversion", "id", "source", "type", "time", "data"],
                "properties": {
                    **ENVELOPE_FIELDS,
                    "type": {"const": event_type},
                    "source": {"const": f"govhub/{contract.producer}"},
                    "data": {"$ref": data_ref},
                },
            },
            "bindings": {"amqp": {"contentEncoding": "utf-8", "messageType": event_type}},
        }
        address = event_type + (".{topic}" if contract.routing_suffix else "")
        channel: dict[str, Any] = {
            "address": address,
            "description": f"Routing key on the topic exchange `{EXCHANGE}`.",
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {"name": EXCHANGE, "type": "topic", "durable": True},
                }
            },
        }
        if contract.routing_suffix:
            channel["parameters"] = {"topic": {"description": "The topic's code."}}
        channels[event_type] = channel
        operations[f"{contract.producer}.sends.{event_type}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{event_type}"},
            "summary": f"{contract.producer} stages it in its outbox; the relay publishes it "
            "with publisher confirms.",
            "messages": [{"$ref": f"#/channels/{event_type}/messages/{name}"}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "govhub events",
            "version": version,
            "description": "The events govhub's services exchange on RabbitMQ (docs/contracts.md, "
            "Events). Each consumer group has a durable quorum queue bound to the routing keys "
            "it needs, and a dead-letter queue `<group>.dlq`.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "rabbitmq": {
                "host": "rabbitmq:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": "GOVHUB_AMQP_URL; the exchange is GOVHUB_AMQP_EXCHANGE.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def asyncapi_text(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
