"""The intake plugin: calls, the public drop, and curation (this file: curation's hooks only)."""

from .curation_hooks import register_actions, register_commands, register_kinds

__all__ = ["register_actions", "register_commands", "register_kinds"]
