"""The evidence plugin's public functions: what other plugins (intake) and the demo may call."""

from __future__ import annotations

from .items import intake

__all__ = ["intake"]
