"""Example notification steps: they build the message they would send and
return it as their results (no mail server needed)."""

from __future__ import annotations


class MissingRecipient(Exception):
    pass


def _recipient(context, inputs, key):
    to = inputs.get(key) or context.get(key)
    if not to:
        raise MissingRecipient(f"no {key} in the step's inputs or the workflow's context")
    return to


class SendEmailHandler:
    def process(self, context, inputs, dependencies):
        to = inputs.get("email") or context.get("email") or \
            f"customer-{context.get('customer_id', 'unknown')}@example.com"
        return {"sent_to": to, "subject": inputs.get("subject", "Update on your request")}


class SendSmsHandler:
    def process(self, context, inputs, dependencies):
        text = str(inputs.get("text", context.get("text", "")))[:160]
        return {"sent_to": _recipient(context, inputs, "phone"), "text": text}


class PushNotificationHandler:
    def process(self, context, inputs, dependencies):
        devices = context.get("devices", [])
        return {"delivered_to": len(devices), "title": inputs.get("title", "Notification")}


class AlertAdminHandler:
    def process(self, context, inputs, dependencies):
        return {"alert": context.get("message", "alert"), "severity": context.get("severity", "warning")}
