"""``tequio vote tally``: count a ballot file offline, with no node, exactly as a node would."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from .ballot_file import parse_ballot_file
from .explain_text import explanation_lines
from .methods import METHODS, Result, TallyError, tally

__all__ = ["tally_command"]

#: The flag that sets each parameter, to say which flag does not apply to a method.
_FLAGS = {
    "quorum": "--quorum",
    "threshold": "--threshold",
    "strict": "--at-least",
    "min": "--min",
    "max": "--max",
}


class _OneLineErrors(click.Command):
    """Run on its own (not under ``tequio``), still report every error as one line on stderr."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as e:
            _fail(e.format_message(), 2)
        except click.ClickException as e:
            _fail(e.format_message(), e.exit_code)
        except click.exceptions.Abort:
            _fail("aborted", 1)
        sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {' '.join(message.split())}", err=True)
    sys.exit(code)


def _fraction(flag: str, text: str | None) -> list[int] | None:
    if text is None:
        return None
    num, slash, den = text.partition("/")
    if not slash or not num.strip().isdigit() or not den.strip().isdigit():
        raise click.UsageError(f"{flag} takes a fraction N/D of whole numbers, such as 2/3, not {text!r}")
    return [int(num), int(den)]


def _read(path: str) -> str:
    try:
        if path == "-":
            return sys.stdin.read()
        return Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise click.ClickException(f"cannot read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise click.ClickException(f"cannot read {path}: not UTF-8 text") from None


@click.command("tally", cls=_OneLineErrors)
@click.option("--method", "method", required=True, help=f"One of: {', '.join(METHODS)}.")
@click.option(
    "--ballots", "ballots_path", required=True, metavar="FILE", help="Ballot file (JSON); - for stdin."
)
@click.option(
    "--tie-seed", default="", metavar="HEX", help="Seed of the tie-break order (a node uses the proposal id)."
)
@click.option(
    "--options",
    "options_text",
    metavar="O,...",
    help="Candidate list, comma-separated (overrides the file's).",
)
@click.option("--quorum", metavar="N/D", help="yes-no, consent: share of the electorate that must vote.")
@click.option("--threshold", metavar="N/D", help="yes-no: share of yes among yes+no [default: 1/2].")
@click.option("--at-least", is_flag=True, help="yes-no: pass at the threshold, not only strictly above it.")
@click.option("--electorate", type=int, metavar="N", help="Number of eligible voters (needed for a quorum).")
@click.option("--min", "score_min", type=int, help="score: lowest score [default: 0].")
@click.option("--max", "score_max", type=int, help="score: highest score [default: 5].")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def tally_command(
    method: str,
    ballots_path: str,
    tie_seed: str,
    options_text: str | None,
    quorum: str | None,
    threshold: str | None,
    at_least: bool,
    electorate: int | None,
    score_min: int | None,
    score_max: int | None,
    as_json: bool,
) -> None:
    """Count the ballots in FILE by a method, without a node: the same result a node signs."""
    if method not in METHODS:
        raise click.UsageError(f"unknown method {method!r} (known: {', '.join(METHODS)})")
    try:
        seed = bytes.fromhex(tie_seed)
    except ValueError:
        raise click.UsageError(f"--tie-seed must be hexadecimal, not {tie_seed!r}") from None
    given = {
        "quorum": _fraction("--quorum", quorum),
        "threshold": _fraction("--threshold", threshold),
        "strict": False if at_least else None,
        "min": score_min,
        "max": score_max,
    }
    params = {k: v for k, v in given.items() if v is not None}
    for name in params:
        if name not in METHODS[method].params:
            raise click.UsageError(f"{_FLAGS[name]} does not apply to {method}")
    try:
        parsed = parse_ballot_file(_read(ballots_path), method)
        options = parsed.options
        if options_text is not None:
            options = [o.strip() for o in options_text.split(",")]
        result = tally(
            method, parsed.ballots, options=options, electorate=electorate, params=params, tie_seed=seed
        )
    except TallyError as e:
        raise click.ClickException(f"{ballots_path}: {e}") from None
    if as_json:
        click.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
    else:
        _print_human(result)


def _print_human(result: Result) -> None:
    ex = result.explanation
    click.echo(f"method: {result.method}")
    if result.passed is not None:
        click.echo(f"passed: {'yes' if result.passed else 'no'}")
    else:
        click.echo(f"winner: {', '.join(result.winners) or '(none)'}")
        if result.ranking:
            click.echo(f"ranking: {' > '.join(result.ranking)}")
    click.echo(f"summary: {ex.get('summary', '')}")
    for tie in ex.get("ties", []):
        among = json.dumps(tie["among"], ensure_ascii=False)
        chose = json.dumps(tie["chose"], ensure_ascii=False)
        click.echo(f"tie ({tie['step']}): {chose} from {among}, {tie['rule']}")
    for line in explanation_lines(ex):
        click.echo(line)
