"""The one exception type every diagnostics decoder raises for input it cannot accept."""

from __future__ import annotations


class MalformedDiagnostic(ValueError):
    """Input that does not follow its specification; `reason` says which rule it broke."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
