"""Handler discovery: /tasker/handlers, /handlers/{namespace} and
/handlers/{namespace}/{name}?version=, from the definitions workers published."""

from __future__ import annotations

from .access import blueprint, permission
from .lookup import handler_not_found, namespace_not_found
from .schemas_common import TaskerErrorSchema
from .schemas_handlers import (HandlerArgsSchema, HandlerDetailSchema, NamespaceHandlersSchema,
                               NamespaceListSchema)
from .serializers import handler_detail, handler_summary, namespace_view
from .runtime import state

blp = blueprint("Handlers", "Handler discovery: namespaces, handlers, step templates and dependency graphs")


@blp.route("/handlers", methods=["GET"])
@permission("tasker.handler:index")
@blp.response(200, NamespaceListSchema)
def list_namespaces():
    """Every namespace with a published handler: its description and handler names."""
    namespaces = state().workflows.namespaces()
    return {"namespaces": [namespace_view(ns) for ns in namespaces.values()]}


@blp.route("/handlers/<namespace>", methods=["GET"])
@permission("tasker.handler:index")
@blp.response(200, NamespaceHandlersSchema)
@blp.alt_response(404, schema=TaskerErrorSchema, description="NAMESPACE_NOT_FOUND")
def list_handlers(namespace):
    """The handlers of one namespace, each at its latest version."""
    svc = state().workflows
    reg = svc.catalog()
    ns = svc.namespaces(reg).get(namespace)
    if ns is None:
        raise namespace_not_found(namespace)
    return {"namespace": namespace,
            "handlers": [handler_summary(h, svc.versions(namespace, h.name, reg)) for h in ns.handlers]}


@blp.route("/handlers/<namespace>/<name>", methods=["GET"])
@permission("tasker.handler:show")
@blp.arguments(HandlerArgsSchema, location="query")
@blp.response(200, HandlerDetailSchema)
@blp.alt_response(404, schema=TaskerErrorSchema, description="NAMESPACE_NOT_FOUND or HANDLER_NOT_FOUND")
def show_handler(args, namespace, name):
    """One handler (a version, default the latest) with its step templates and dependency graph."""
    svc = state().workflows
    reg = svc.catalog()
    if namespace not in svc.namespaces(reg):
        raise namespace_not_found(namespace)
    h = svc.handler(namespace, name, args.get("version"), reg)
    if h is None:
        raise handler_not_found(namespace, name, args.get("version"))
    return handler_detail(h, svc.versions(namespace, name, reg))
