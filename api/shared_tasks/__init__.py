"""What both dialects on /api share about one task: /api/tasks/{id} (GET,
PUT, DELETE), answering the union of the DTS and TaskDriver fields, and the
schemas and serializers of a task in each dialect's words. It belongs to
neither dialect, so both may use it and it imports neither."""

from .routes import blp

__all__ = ["blp"]
