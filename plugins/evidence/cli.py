"""``tequio evidence``: intake, listing, custody, review, safety, sharing, court packages, fixity."""

from __future__ import annotations

import click

from .cli_actions import (
    ack_cmd,
    check_cmd,
    clear_cmd,
    export_cmd,
    fixity_cmd,
    redact_cmd,
    review_cmd,
    share_cmd,
    transfer_cmd,
)
from .cli_incidents import incident
from .cli_items import add, get, list_, show

__all__ = ["evidence"]


@click.group()
def evidence() -> None:
    """Evidence of abuses: originals kept untouched, stripped working copies, custody, review, packages."""


for command in (
    add,
    list_,
    show,
    get,
    review_cmd,
    clear_cmd,
    redact_cmd,
    share_cmd,
    transfer_cmd,
    ack_cmd,
    export_cmd,
    check_cmd,
    fixity_cmd,
    incident,
):
    evidence.add_command(command)
