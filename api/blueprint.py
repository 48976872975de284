"""The flask-smorest Blueprint every route of the API is declared on.

It differs in two things. Arguments given as a schema class are loaded with
one instance of that class, made on first use, instead of a new instance
per request (webargs builds one for every call, deep-copying every field:
about a tenth of a create's time); a marshmallow schema holds no state
between loads, so one instance serves every thread, as flask-smorest's
response schemas already do. And a JSON body is first offered to the
schema's precompiled load (api.fast_load), which returns what
marshmallow would for a body it is sure of; any other body (every invalid
one among them) is parsed and loaded by webargs and marshmallow as before,
so every error answer stays theirs.
"""

from __future__ import annotations

import json

import flask
import flask_smorest
import marshmallow as ma
from webargs import core
from webargs.flaskparser import FlaskParser

from .fast_load import compile_load

_NONE = object()


class SchemaReusingParser(FlaskParser):
    """webargs' Flask parser, keeping one instance (and its precompiled
    load) per schema class."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._instances: dict[type, ma.Schema] = {}
        self._fast: dict[type, object] = {}

    def _get_schema(self, argmap, req):
        if isinstance(argmap, type) and issubclass(argmap, ma.Schema):
            schema = self._instances.get(argmap)
            if schema is None:
                schema = self._instances.setdefault(argmap, argmap())
            return schema
        return super()._get_schema(argmap, req)

    def _fast_load(self, argmap):
        fast = self._fast.get(argmap, _NONE)
        if fast is _NONE:
            fast = self._fast.setdefault(argmap, compile_load(self._get_schema(argmap, None)))
        return fast

    def parse(self, argmap, req=None, *, location=None, unknown=core._UNKNOWN_DEFAULT_PARAM,
              validate=None, **kwargs):
        if ((location or self.location) == "json" and validate is None and isinstance(argmap, type)
                and unknown is core._UNKNOWN_DEFAULT_PARAM and self.unknown is core._UNKNOWN_DEFAULT_PARAM
                and self.DEFAULT_UNKNOWN_BY_LOCATION.get("json") is None and issubclass(argmap, ma.Schema)):
            fast = self._fast_load(argmap)
            request = req if req is not None else flask.request
            if fast is not None and core.is_json(request.mimetype):
                try:
                    body = json.loads(request.get_data(cache=True).decode("utf-8"))
                except (ValueError, RecursionError):  # webargs answers a body that is not JSON
                    body = None
                loaded = fast(body)
                if loaded is not None:
                    return loaded
        return super().parse(argmap, req, location=location, unknown=unknown, validate=validate, **kwargs)


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = SchemaReusingParser()
