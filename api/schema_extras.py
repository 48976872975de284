"""OpenAPI keywords a marshmallow schema cannot say by its fields: a rule
that lives in a ``validates_schema`` hook or in a view (``minProperties``
for "give at least one field"), a field required of some callers only, or
a keyword apispec drops from a field (``propertyNames``).
A schema class carries them in ``OPENAPI_EXTRA`` (set with :func:`extra`);
:func:`document` copies them into the schema's component once the app's
document is built (``required`` lists are merged)."""

from __future__ import annotations

from typing import Any


def extra(**keywords: Any):
    """Class decorator: OpenAPI keywords added to the schema's component."""
    def decorator(cls):
        cls.OPENAPI_EXTRA = {**getattr(cls, "OPENAPI_EXTRA", {}), **keywords}
        return cls
    return decorator


def document(spec: Any, ma_plugin: Any) -> None:
    """Add each registered schema's ``OPENAPI_EXTRA`` to its component (in place)."""
    for key, name in ma_plugin.converter.refs.items():
        keywords = getattr(key[0] if isinstance(key, tuple) else type(key), "OPENAPI_EXTRA", None)
        component = spec.components.schemas.get(name)
        if not keywords or component is None:
            continue
        for keyword, value in keywords.items():
            if keyword == "required":
                component["required"] = sorted(set(component.get("required", [])) | set(value))
            elif keyword == "properties":  # keywords of single fields (e.g. propertyNames)
                for field, more in value.items():
                    prop = component["properties"][field]
                    prop.update({k: v for k, v in more.items() if v is not None})
                    for k in [k for k, v in more.items() if v is None]:  # None: drop it
                        prop.pop(k, None)
            else:
                component[keyword] = value
