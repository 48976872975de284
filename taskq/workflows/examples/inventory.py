"""Example inventory steps over the stock given in the workflow's context
(``{"stock": {"sku": qty}, "items": [{"sku", "qty", "weight_kg"?}]}``)."""

from __future__ import annotations


class OutOfStock(Exception):
    pass


def _items(context):
    return context.get("items", [])


class CheckAvailabilityHandler:
    def process(self, context, inputs, dependencies):
        stock = context.get("stock", {})
        missing = [i["sku"] for i in _items(context) if stock.get(i["sku"], 0) < i["qty"]]
        if missing:
            raise OutOfStock(f"not enough stock for {', '.join(missing)}")
        return {"available": True, "lines": len(_items(context))}


class ReserveItemsHandler:
    def process(self, context, inputs, dependencies):
        stock = dict(context.get("stock", {}))
        for i in _items(context):
            stock[i["sku"]] -= i["qty"]
        return {"reserved": {i["sku"]: i["qty"] for i in _items(context)}, "stock_left": stock}


class ComputeShippingHandler:
    def process(self, context, inputs, dependencies):
        weight = sum(i.get("weight_kg", 0.5) * i["qty"] for i in _items(context))
        rate = inputs.get("rate_per_kg", 2.0)
        return {"weight_kg": weight, "cost": round(weight * rate, 2)}


class ShipOrderHandler:
    def process(self, context, inputs, dependencies):
        return {"shipped": sorted(dependencies["reserve_items"]["reserved"]),
                "shipping_cost": dependencies["compute_shipping"]["cost"]}


class ApplyMovementsHandler:
    def process(self, context, inputs, dependencies):
        stock = dict(context.get("stock", {}))
        for m in context.get("movements", []):
            stock[m["sku"]] = stock.get(m["sku"], 0) + m["qty"]
            if stock[m["sku"]] < 0:
                raise OutOfStock(f"stock of {m['sku']} would go below zero")
        return {"stock": stock}
