"""Schemas of GET /tasker/tasks/{task_id}/task_diagrams (the Tasker
document's diagram shape)."""

from __future__ import annotations

from marshmallow import Schema, fields
from marshmallow.validate import OneOf

FORMATS = ("json", "html")


class DiagramArgsSchema(Schema):
    format = fields.String(load_default="json", validate=OneOf(FORMATS), metadata={
        "description": "json (nodes and edges) or html (a page drawing the diagram with Mermaid)"})


class NodeAttributesSchema(Schema):
    status = fields.String(required=True, metadata={
        "description": "pending, in_progress, complete, error, cancelled or skipped"})
    duration_ms = fields.Integer(allow_none=True, required=True)


class DiagramNodeSchema(Schema):
    id = fields.String(required=True, metadata={"description": "the step name"})
    label = fields.String(required=True, metadata={"example": "Validate Payment"})
    shape = fields.String(required=True, metadata={"example": "rectangle"})
    style = fields.String(required=True, metadata={"description": "fill colour by status",
                                                   "example": "fill:#90EE90"})
    url = fields.String(required=True, metadata={"description": "the step's resource"})
    attributes = fields.Nested(NodeAttributesSchema, required=True)


class DiagramEdgeSchema(Schema):
    source_id = fields.String(required=True, metadata={"description": "the step depended on"})
    target_id = fields.String(required=True, metadata={"description": "the step that depends on it"})
    label = fields.String(required=True, metadata={"example": "depends_on"})
    type = fields.String(required=True, metadata={"example": "dependency"})
    direction = fields.String(required=True, metadata={"example": "forward"})
    attributes = fields.Dict(required=True)


class DiagramAttributesSchema(Schema):
    task_id = fields.String(required=True)
    status = fields.String(required=True)


class TaskDiagramSchema(Schema):
    nodes = fields.List(fields.Nested(DiagramNodeSchema), required=True)
    edges = fields.List(fields.Nested(DiagramEdgeSchema), required=True)
    direction = fields.String(required=True, metadata={"example": "TD"})
    title = fields.String(required=True, metadata={"description": "the handler's namespace.name@version"})
    attributes = fields.Nested(DiagramAttributesSchema, required=True)
