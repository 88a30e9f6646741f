"""Errors an operator can act on. The CLI prints their message as one line; anything else is a bug."""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DatabaseTooNew",
    "NodeExists",
    "NodeNotFound",
    "PassphraseRequired",
    "PluginError",
    "PublishError",
    "TequioError",
    "WrongPassphrase",
]


class TequioError(Exception):
    """Base of every error whose message is meant for the operator."""


class NodeNotFound(TequioError):
    """There is no node in the given home."""


class NodeExists(TequioError):
    """``init`` was asked to create a node where one already is."""


class PassphraseRequired(TequioError):
    """The node key is encrypted and no passphrase was supplied."""


class WrongPassphrase(TequioError):
    """The passphrase does not open the node key."""


class ConfigError(TequioError):
    """``tequio.toml`` is unreadable or does not validate."""


class DatabaseTooNew(TequioError):
    """The store was written by a newer version of a component than this code knows."""


class PluginError(TequioError):
    """A plugin could not be loaded or declared something inconsistent."""


class PublishError(TequioError):
    """A local record could not be made: unknown kind, invalid body, unsupported scope."""


class NotRecordStream(TequioError):
    """The input does not begin with a record; refused before anything is ingested or logged."""
