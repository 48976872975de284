"""The flask-smorest Blueprint every route of the API is declared on.

It differs in one thing: arguments given as a schema class are loaded with
one instance of that class, made on first use, instead of a new instance
per request (webargs builds one for every call, deep-copying every field:
about a tenth of a create's time). A marshmallow schema holds no state
between loads, so one instance serves every thread, as flask-smorest's
response schemas already do.
"""

from __future__ import annotations

import flask_smorest
import marshmallow as ma
from webargs.flaskparser import FlaskParser


class SchemaReusingParser(FlaskParser):
    """webargs' Flask parser, keeping one instance per schema class."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._instances: dict[type, ma.Schema] = {}

    def _get_schema(self, argmap, req):
        if isinstance(argmap, type) and issubclass(argmap, ma.Schema):
            schema = self._instances.get(argmap)
            if schema is None:
                schema = self._instances.setdefault(argmap, argmap())
            return schema
        return super()._get_schema(argmap, req)


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = SchemaReusingParser()
