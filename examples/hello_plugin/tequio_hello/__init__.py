"""A minimal third-party plugin: the kind ``hello.greeting`` and the command ``tequio hello NAME``.

Installed with ``pip install ./examples/hello_plugin``, it is found through the ``tequio``
entry-point group exactly as the built-in plugins are.
"""

from __future__ import annotations

import click
from pydantic import BaseModel, ConfigDict, Field

from tequio.node import Kind, hookimpl
from tequio.node.cli import echo_json, open_node


class Greeting(BaseModel):
    """A greeting from one organisation to another, by name."""

    model_config = ConfigDict(strict=True, extra="ignore")

    to: str = Field(min_length=1, max_length=100)
    text: str = Field(default="hola", max_length=280)


@hookimpl
def register_kinds() -> list[Kind]:
    return [Kind("hello.greeting", Greeting, "A short greeting addressed to someone by name.")]


@click.command("hello")
@click.argument("name")
@click.option("--text", default="hola", show_default=True, help="What to say.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def hello(ctx: click.Context, name: str, text: str, as_json: bool) -> None:
    """Publish a signed greeting to NAME."""
    with open_node(ctx) as node:
        stored = node.publish("hello.greeting", {"to": name, "text": text})
    if as_json:
        echo_json({"id": stored.id.hex(), "to": name})
    else:
        click.echo(f"greeted {name}: {stored.id.hex()}")


@hookimpl
def register_commands() -> list[click.Command]:
    return [hello]
