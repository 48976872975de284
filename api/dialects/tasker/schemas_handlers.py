"""Handler discovery bodies: namespaces, a namespace's handlers, one
handler with its step templates and dependency graph (the document's
shapes, plus ``versions``: every published version of a handler)."""

from __future__ import annotations

from marshmallow import Schema, fields

from .schemas_common import semver


class NamespaceSchema(Schema):
    name = fields.String(required=True, metadata={"example": "payments"})
    description = fields.String(required=True, metadata={"example": "Payment processing workflows"})
    handler_count = fields.Integer(required=True, metadata={"description": "distinct handler names"})
    handlers = fields.List(fields.String(), required=True)


class NamespaceListSchema(Schema):
    namespaces = fields.List(fields.Nested(NamespaceSchema), required=True)


class HandlerSummarySchema(Schema):
    id = fields.String(required=True, metadata={"description": "the handler's name", "example": "process_payment"})
    namespace = fields.String(required=True)
    version = fields.String(required=True, metadata={"description": "the latest published version"})
    description = fields.String(required=True)
    step_count = fields.Integer(required=True)
    step_names = fields.List(fields.String(), required=True)
    versions = fields.List(fields.String(), required=True, metadata={"description": "every published version, oldest first"})


class NamespaceHandlersSchema(Schema):
    namespace = fields.String(required=True)
    handlers = fields.List(fields.Nested(HandlerSummarySchema), required=True)


class StepTemplateSchema(Schema):
    name = fields.String(required=True)
    description = fields.String(required=True)
    handler_class = fields.String(required=True)
    depends_on_step = fields.Raw(allow_none=True, metadata={
        "description": "null, one step name, or a list of them"})
    default_retryable = fields.Boolean(required=True)
    default_retry_limit = fields.Integer(required=True)
    skippable = fields.Boolean(required=True)
    custom_events = fields.List(fields.String(), required=True)


EdgeSchema = Schema.from_dict({"from": fields.String(required=True), "to": fields.String(required=True)},
                              name="TaskerEdge")


class DependencyGraphSchema(Schema):
    nodes = fields.List(fields.String(), required=True)
    edges = fields.List(fields.Nested(EdgeSchema), required=True)
    execution_order = fields.List(fields.String(), required=True)


class HandlerDetailSchema(Schema):
    id = fields.String(required=True)
    namespace = fields.String(required=True)
    version = fields.String(required=True)
    description = fields.String(required=True)
    versions = fields.List(fields.String(), required=True)
    step_templates = fields.List(fields.Nested(StepTemplateSchema), required=True)
    dependency_graph = fields.Nested(DependencyGraphSchema, required=True)


class HandlerArgsSchema(Schema):
    version = semver("a published version (default: the latest)")
