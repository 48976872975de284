"""Example payment steps: deterministic stand-ins for a gateway."""

from __future__ import annotations

import hashlib

CURRENCIES = {"USD", "EUR", "GBP", "JPY"}


class StepFailed(Exception):
    """An example step refuses its input."""


def _ref(kind: str, *parts) -> str:
    return f"{kind}_" + hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:10]


class ValidatePaymentHandler:
    def process(self, context, inputs, dependencies):
        amount = context.get("amount", 0)
        if "payment_id" not in context:
            raise StepFailed("context.payment_id is missing")
        if not isinstance(amount, (int, float)) or isinstance(amount, bool) or amount < 0:
            raise StepFailed(f"amount must be a number >= 0, got {amount!r}")
        currency = context.get("currency", "USD")
        if currency not in CURRENCIES:
            raise StepFailed(f"unsupported currency {currency!r}")
        return {"valid": True, "validation_id": _ref("val", context["payment_id"]),
                "amount": amount, "currency": currency}


class ChargeCardHandler:
    def process(self, context, inputs, dependencies):
        v = dependencies["validate_payment"]
        return {"charge_id": _ref("ch", v["validation_id"]), "amount": v["amount"],
                "currency": v["currency"], "status": "succeeded"}


class UpdateOrderHandler:
    def process(self, context, inputs, dependencies):
        return {"order_status": "paid", "charge_id": dependencies["charge_card"]["charge_id"]}


class SendConfirmationHandler:
    def process(self, context, inputs, dependencies):
        to = inputs.get("email") or f"customer-{context.get('customer_id', 'unknown')}@example.com"
        return {"sent_to": to, "subject": f"Payment {context['payment_id']} received"}


class ValidateRefundHandler:
    def process(self, context, inputs, dependencies):
        if "payment_id" not in context:
            raise StepFailed("context.payment_id is missing")
        amount = context.get("amount", 0)
        if not isinstance(amount, (int, float)) or isinstance(amount, bool) or amount <= 0:
            raise StepFailed(f"refund amount must be > 0, got {amount!r}")
        return {"valid": True, "amount": amount}


class ProcessRefundHandler:
    def process(self, context, inputs, dependencies):
        return {"refund_id": _ref("re", context["payment_id"]),
                "amount": dependencies["validate_refund"]["amount"]}


def luhn_ok(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    if len(digits) < 12 or len(digits) != len(number.replace(" ", "")):
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


class CheckCardHandler:
    def process(self, context, inputs, dependencies):
        number = str(context.get("card_number", ""))
        if not luhn_ok(number):
            raise StepFailed("card number fails the Luhn check")
        return {"valid": True, "last4": number[-4:]}


class ExtendSubscriptionHandler:
    def process(self, context, inputs, dependencies):
        periods = int(context.get("periods_paid", 0)) + 1
        return {"periods_paid": periods, "charge_id": dependencies["charge_card"]["charge_id"]}


class EndSubscriptionHandler:
    def process(self, context, inputs, dependencies):
        return {"subscription_id": context.get("subscription_id"), "status": "ends_at_period_end"}
