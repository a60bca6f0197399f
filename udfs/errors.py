"""The project's exception hierarchy, drawn in one place.

Every error a user can provoke derives from ``AdstreamError`` so a CLI can
catch one type and print a message that says what to do.
"""


class AdstreamError(Exception):
    """Base of every error adstream raises on purpose."""


class ConfigError(AdstreamError, ValueError):
    """Configuration is invalid; ``key`` names the dotted path at fault."""

    def __init__(self, key: str, reason: str):
        self.key = key
        self.reason = reason
        super().__init__(f"config key '{key}': {reason}")


class MessageError(AdstreamError, ValueError):
    """A message failed validation; ``field`` names the offending field.

    ``kind`` is the dead-letter class it is counted under: ``invalid`` for a malformed
    message, ``future`` for a well-formed one whose event time is too far ahead of the
    reader's clock (a producer with a wrong clock, not a bad producer).
    """

    def __init__(self, schema: str, field: str, reason: str, kind: str = "invalid"):
        self.schema = schema
        self.field = field
        self.reason = reason
        self.kind = kind
        super().__init__(f"{schema}: field '{field}': {reason}")


class CatalogError(AdstreamError, ValueError):
    """An ad catalogue entity or change record is invalid; names entity, id and field."""

    def __init__(self, entity: str, entity_id: str | None, field: str, reason: str):
        self.entity = entity
        self.entity_id = entity_id
        self.field = field
        self.reason = reason
        who = f"{entity} {entity_id!r}" if entity_id else entity
        super().__init__(f"catalog {who}: field '{field}': {reason}")


class StackError(AdstreamError):
    """A local service could not be started, reached or stopped."""


class ModelError(AdstreamError):
    """A model could not be trained, exported, loaded or promoted."""
