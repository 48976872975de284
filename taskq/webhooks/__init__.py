"""Webhooks: the store of endpoints and their deliveries (``store``), one
checked POST (``http``) and where outbound calls may go (``netguard``)."""

from .store import WebhookStore

__all__ = ["WebhookStore"]
