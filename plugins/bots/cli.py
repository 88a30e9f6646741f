"""``tequio bots``: analyze an export offline, share a finding with a coalition, compare, list, show."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click

from tequio.node import Node, StoredRecord, TequioError
from tequio.node.cli import echo_json, json_option, open_node, progress_bar
from tequio.schemas import fingerprint

__all__ = ["bots"]

FORMAT_CHOICES = ("auto", "tequio", "cnt", "twitter-v1", "twitter-v2", "x-io", "coortweet")
NETWORK_NAMES = (
    "co_retweet",
    "co_tweet",
    "co_similar",
    "co_link",
    "co_hashtag",
    "co_reply",
    "co_mention",
    "co_post",
)
DEFAULT = "co_retweet,co_tweet,co_similar,co_link,co_hashtag,co_reply,co_mention"


def safe(text: Any, limit: int = 120) -> str:
    """Text from an export or a peer, fit for a terminal: no control characters, bounded."""
    s = "".join(ch if ch.isprintable() else "�" for ch in str(text))
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _networks(value: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    bad = [n for n in names if n not in NETWORK_NAMES]
    if bad or not names:
        raise click.BadParameter(f"choose among {', '.join(NETWORK_NAMES)}", param_hint="--networks")
    return tuple(dict.fromkeys(names))


def _windows(value: str) -> tuple[float, ...]:
    if value.strip().lower() in ("", "none", "0"):
        return ()
    try:
        out = tuple(float(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(
            "seconds separated by commas, e.g. 10,30,60,300", param_hint="--sweep"
        ) from None
    return out


@click.group()
def bots() -> None:
    """Coordinated campaigns in exported posts: analyze offline, explain, share signed findings."""


@bots.command("analyze")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for findings.json, GraphML, plots and the report.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMAT_CHOICES),
    default="auto",
    show_default=True,
    help="The export's layout.",
)
@click.option(
    "--map",
    "map_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A column-mapping file for any other export (docs/bots.md).",
)
@click.option(
    "--window",
    type=click.FloatRange(min=0.001, max=31 * 86_400),
    default=60.0,
    show_default=True,
    help="Seconds either side of a post (sliding ±window).",
)
@click.option(
    "--min-weight", type=click.IntRange(min=1), default=3, show_default=True, help="Minimum edge weight (W2)."
)
@click.option(
    "--weight",
    type=click.Choice(["cnt", "pairs"]),
    default="cnt",
    show_default=True,
    help="cnt: CNT's directed distinct-message counts; pairs: CooRTweet's pair counts.",
)
@click.option(
    "--networks", default=DEFAULT, show_default=True, help=f"Tests to run, of {','.join(NETWORK_NAMES)}."
)
@click.option(
    "--allowlist",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Known activist and NGO accounts, one a line.",
)
@click.option(
    "--percentile",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.0,
    show_default=True,
    help="Keep edges above this quantile of the weights (W3; CooRTweet uses 0.99; 0 is off).",
)
@click.option(
    "--min-symmetry",
    type=click.FloatRange(0, 1),
    default=0.2,
    show_default=True,
    help="CooRTweet's edge-symmetry guard (W4).",
)
@click.option(
    "--similarity",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.8,
    show_default=True,
    help="Jaccard threshold for near-duplicate text (B3).",
)
@click.option(
    "--null",
    "null",
    type=click.Choice(["rewire", "shuffle"]),
    default="rewire",
    show_default=True,
    help="Null model for the p-values (N1).",
)
@click.option(
    "--repeats", type=click.IntRange(0, 10_000), default=99, show_default=True, help="Null-model repeats."
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the null model and the clustering."
)
@click.option(
    "--sweep",
    default="10,30,60,300,600",
    show_default=True,
    help="Windows (s) of the sensitivity table; 'none' to skip.",
)
@click.option("--no-plots", is_flag=True, help="Skip the matplotlib plots.")
@click.option("--force", is_flag=True, help="Replace an analysis already in --out.")
@json_option
def analyze_cmd(
    files: tuple[Path, ...],
    out: Path,
    fmt: str,
    map_file: Path | None,
    window: float,
    min_weight: int,
    weight: str,
    networks: str,
    allowlist: Path | None,
    percentile: float,
    min_symmetry: float,
    similarity: float,
    null: str,
    repeats: int,
    seed: int,
    sweep: str,
    no_plots: bool,
    force: bool,
    as_json: bool,
) -> None:
    """Find coordinated accounts in FILES (exported posts), offline, and explain every flag."""
    nets = _networks(networks)
    windows = _windows(sweep)
    try:
        import datasketch  # noqa: F401 - the extra's libraries, checked before any work
        import jinja2  # noqa: F401
        import matplotlib  # noqa: F401
        import networkx  # noqa: F401

        from .analysis import Params, analyze, load_allowlist
        from .formats import load_mapping
        from .outputs import prepare_dir, write_outputs
    except ImportError as e:
        raise TequioError(
            f"the analysis needs the bots extra ({e.name} is missing): pip install 'tequio[bots]'"
        ) from None
    params = Params(
        window=window,
        min_weight=min_weight,
        weight=weight,
        networks=nets,
        percentile=percentile,
        min_symmetry=min_symmetry,
        similarity=similarity,
        null=null,
        repeats=repeats,
        seed=seed,
        sweep=windows,
        format=fmt,
    )
    params.check()
    mapping = load_mapping(map_file) if map_file else None
    allowed = load_allowlist(allowlist) if allowlist else frozenset()
    prepare_dir(out, force)
    result = analyze(list(files), params, mapping, allowed, progress_bar)
    written = write_outputs(result, out, plots=not no_plots)
    f = result.findings
    if as_json:
        echo_json(
            {
                "out": str(out),
                "summary": f["summary"],
                "input": f["input"],
                "clusters": [
                    {
                        k: c[k]
                        for k in (
                            "id",
                            "tier",
                            "tier_rule",
                            "verdict",
                            "networks",
                            "p_value",
                            "q_value",
                            "share_of_volume",
                        )
                    }
                    | {"accounts": len(c["accounts"])}
                    for c in f["clusters"]
                ],
                "written": written,
            }
        )
        return
    click.echo(safe(f["summary"]["sentence"]["en"], 2000))
    click.echo(safe(f["summary"]["sentence"]["es"], 2000))
    for c in f["clusters"]:
        click.echo(
            f"  #{c['id']:<3} {c['tier']:<6} {len(c['accounts']):>5} accounts  p={c['p_value']:<7g} "
            f"{100 * c['share_of_volume']:.2f}% of posts  {','.join(c['networks'])}  {c['verdict']}"
        )
    skipped = sum(sum(i["skipped"].values()) for i in f["input"])
    if skipped:
        click.echo(f"  {skipped} rows skipped (reasons in findings.json, input[].skipped)")
    click.echo(f"report: {written['report']}")


def _tier_option() -> Any:
    return click.option(
        "--tier",
        type=click.Choice(["high", "medium", "low"]),
        default="medium",
        show_default=True,
        help="Share clusters of this tier and above.",
    )


def _resolve_finding(node: Node, text: str) -> StoredRecord:
    from .model import FINDING

    rec = node.resolve(text)
    if rec.payload is None or rec.payload.kind != FINDING:
        raise TequioError(f"record {text} is not a bots.finding this node can read")
    return rec


@bots.command("share")
@click.argument("directory", type=click.Path(exists=True, path_type=Path))
@click.option("--scope", required=True, help="The coalition: g:GID (or the group id).")
@_tier_option()
@click.option("--title", default="", help="A title for the finding.")
@click.option(
    "--corroborates", help="The id of another organisation's finding that this analysis agrees with."
)
@json_option
@click.pass_context
def share_cmd(
    ctx: click.Context,
    directory: Path,
    scope: str,
    tier: str,
    title: str,
    corroborates: str | None,
    as_json: bool,
) -> None:
    """Publish the analysis in DIRECTORY as a signed finding to a coalition."""
    from tequio.node import group_state

    from .outputs import load_findings
    from .share import publish_finding

    findings, raw = load_findings(directory)
    with open_node(ctx) as node:
        target, _ = group_state(node, scope.strip())
        other = _resolve_finding(node, corroborates) if corroborates else None
        rec = publish_finding(node, target, findings, raw, tier, title, other)
        body = rec.body or {}
    out = {
        "id": rec.id.hex(),
        "scope": target,
        "clusters": len(body.get("clusters", [])),
        "corroborates": body.get("corroborates"),
    }
    if as_json:
        echo_json(out)
    else:
        click.echo(f"shared finding {out['id']} with {out['clusters']} clusters in {target}")


def _finding_info(node: Node, rec: StoredRecord) -> dict[str, Any]:
    from .share import author_name

    body = rec.body or {}
    return {
        "id": rec.id.hex(),
        "scope": rec.record.scope,
        "author": rec.author.hex(),
        "author_fingerprint": fingerprint(rec.author),
        "author_name": author_name(node, rec),
        "time": dt.datetime.fromtimestamp(rec.record.ts / 1000, dt.UTC).isoformat(),
        "title": body.get("title", ""),
        "clusters": len(body.get("clusters", [])),
        "corroborates": body.get("corroborates"),
        "signature": "valid (verified when this node stored it)",
    }


@bots.command("list")
@json_option
@click.pass_context
def list_cmd(ctx: click.Context, as_json: bool) -> None:
    """Findings this node holds (its own and its coalitions'), with who corroborates them."""
    from .share import findings_on_node

    with open_node(ctx) as node:  # group findings are encrypted: reading them needs the key
        recs = findings_on_node(node)
        infos = [_finding_info(node, r) for r in recs]
    for i in infos:
        i["corroborated_by"] = [
            {"id": j["id"], "author_name": j["author_name"]}
            for j in infos
            if j["corroborates"] == i["id"] and j["author"] != i["author"]
        ]
    if as_json:
        echo_json(infos)
        return
    for i in infos:
        extra = (
            f" — corroborated by {', '.join(safe(c['author_name'], 40) for c in i['corroborated_by'])}"
            if i["corroborated_by"]
            else ""
        )
        click.echo(
            f"{i['id'][:16]}  {safe(i['author_name'], 40)}  {i['clusters']} clusters  "
            f"{safe(i['title'], 60)}{extra}"
        )


@bots.command("show")
@click.argument("finding")
@json_option
@click.pass_context
def show_cmd(ctx: click.Context, finding: str, as_json: bool) -> None:
    """One finding: who signed it, its clusters and indicators."""
    with open_node(ctx) as node:  # group findings are encrypted: reading them needs the key
        rec = _resolve_finding(node, finding)
        info = _finding_info(node, rec) | {"body": rec.body}
    if as_json:
        echo_json(info)
        return
    click.echo(
        f"finding {info['id']} by {safe(info['author_name'], 60)} ({info['author_fingerprint']}), "
        f"signature {info['signature']}"
    )
    body = info["body"] or {}
    click.echo(safe(body.get("summary", {}).get("en", ""), 2000))
    for c in body.get("clusters", []):
        click.echo(
            f"  #{c['id']} {c['tier']} {len(c['accounts'])} accounts {','.join(c['networks'])} "
            f"p={c['p'][0]}/{c['p'][1]}"
        )


@bots.command("compare")
@click.argument("finding")
@click.argument("directory", type=click.Path(exists=True, path_type=Path))
@json_option
@click.pass_context
def compare_cmd(ctx: click.Context, finding: str, directory: Path, as_json: bool) -> None:
    """Where a finding (a record id, or another findings.json) agrees with your analysis in DIRECTORY."""
    from .outputs import load_findings
    from .share import compare, compare_sentence, finding_body, findings_on_node

    mine_findings, mine_raw = load_findings(directory)
    mine = finding_body(mine_findings, mine_raw, "low")
    theirs_path = Path(finding)
    info: dict[str, Any]
    corroborations: list[dict[str, Any]] = []
    if theirs_path.exists():
        tf, traw = load_findings(theirs_path)
        theirs = finding_body(tf, traw, "low")
        info = {"file": str(theirs_path)}
        theirs_name, mine_name, second_org = str(theirs_path), str(directory), False
    else:
        with open_node(ctx) as node:  # group findings are encrypted: reading them needs the key
            rec = _resolve_finding(node, finding)
            theirs = rec.body or {}
            info = _finding_info(node, rec)
            second_org = rec.author != node.key
            theirs_name, mine_name = info["author_name"], node.name
            for other in findings_on_node(node):
                body = other.body or {}
                if body.get("corroborates") == rec.id.hex() and other.author != rec.author:
                    oi = _finding_info(node, other)
                    corroborations.append(
                        {
                            "id": oi["id"],
                            "author_name": oi["author_name"],
                            "author_fingerprint": oi["author_fingerprint"],
                        }
                    )
    result = compare(theirs, mine)
    corroborated = second_org and result["independent_inputs"] and result["agreeing_clusters"] > 0
    result |= {
        "finding": info,
        "yours": {"directory": str(directory), "inputs": mine["inputs"]},
        "second_organisation": second_org,
        "corroborated": corroborated,
        "corroborations": corroborations,
        "sentence": compare_sentence(result, safe(theirs_name, 60), safe(mine_name, 60), corroborated),
    }
    if as_json:
        echo_json(result)
        return
    click.echo(result["sentence"]["en"])
    click.echo(result["sentence"]["es"])
    for row in result["clusters"]:
        m = row["match"]
        detail = (
            f"→ your #{m['id']} ({m['tier']}), {len(m['common_accounts'])} accounts in common, Jaccard "
            f"{m['jaccard']}"
            if m
            else ""
        )
        click.echo(f"  #{row['id']} {row['tier']} {row['accounts']} accounts: {row['agreement']} {detail}")
    if result["parameter_differences"]:
        diffs = ", ".join(f"{k} {v[0]} vs {v[1]}" for k, v in result["parameter_differences"].items())
        click.echo(f"  parameters differ: {safe(diffs, 300)}")
    for c in corroborations:
        click.echo(
            f"  also corroborated by {safe(c['author_name'], 60)} ({c['author_fingerprint']}), finding "
            f"{c['id'][:16]}"
        )
