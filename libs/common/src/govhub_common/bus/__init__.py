"""The event bus: one small interface, two transports (RabbitMQ and in-process)."""

from govhub_common.bus.base import EventBus, EventHandler, Subscription
from govhub_common.bus.inprocess import InProcessBus

__all__ = ["EventBus", "EventHandler", "InProcessBus", "Subscription"]
