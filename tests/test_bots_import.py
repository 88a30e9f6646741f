"""Importing exports: every format, missing values, timestamps, hashes, hostile files, CLI errors."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tequio.plugins.bots.formats import detect_format, load_file, load_mapping
from tequio.plugins.bots.posts import PostsBuilder
from tequio.plugins.bots.readers import InputError
from tequio.plugins.bots.values import parse_list, parse_time, snowflake_ms
from tests.conftest import CliResult
from tests.test_group_cli import refused

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z


def load(path: Path, fmt: str = "auto", mapping: Path | None = None):  # type: ignore[no-untyped-def]
    b = PostsBuilder("tequio")
    rec = load_file(path, fmt, b, load_mapping(mapping) if mapping else None)
    return b.build(), rec


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("1700000000", T0),
        ("1700000000.5", T0 + 500),
        ("1700000000000", T0),
        ("2023-11-14T22:13:20Z", T0),
        ("2023-11-14T23:13:20+01:00", T0),
        ("2023-11-14 22:13:20", T0),
        ("Tue Nov 14 22:13:20 +0000 2023", T0),
        ("Tue, 14 Nov 2023 22:13:20 GMT", T0),
        ("2023-11-14 22:13", T0 - 20_000),
        ("", None),
        ("NA", None),
        ("None", None),
        ("mañana", None),
        ("-5", None),
        ("1e400", None),
    ],
)
def test_timestamps(text: str, ms: int | None) -> None:
    assert parse_time(text) == ms


def test_snowflake_ids_carry_time() -> None:
    assert snowflake_ms("1212092628029698048") == (1212092628029698048 >> 22) + 1_288_834_974_657
    assert parse_time("2019-12-31T19:26:16.771Z") == snowflake_ms("1212092628029698048")
    assert snowflake_ms("12345") is None and snowflake_ms("abc") is None and snowflake_ms("9" * 30) is None


def test_lists_from_archives() -> None:
    assert parse_list("['uno', 'dos']", ",") == ["uno", "dos"]
    assert parse_list("[uno, dos]", ",") == ["uno", "dos"]
    assert parse_list('["a"]') == ["a"] and parse_list("[]") == [] and parse_list("NA") == []
    assert parse_list("a b  c") == ["a", "b", "c"]


def test_generic_csv_missing_values_and_hash(tmp_path: Path) -> None:
    p = tmp_path / "ours.csv"
    p.write_text(
        "message_id,user_id,username,timestamp,repost_id,reply_id,text,urls,hashtags\n"
        "1,a,ana,2023-11-14T22:13:20Z,NA,None,hola #Uno,,\n"
        '2,b,beto,1700000001,,,hola,NA,"[""dos""]"\n'
        "3,,x,1700000002,,,sin usuario,,\n"
        "4,c,c,ayer,,,mala hora,,\n"
    )
    posts, rec = load(p)
    assert rec.format == "tequio" and rec.posts == 2 and rec.rows == 4
    assert rec.sha256 == hashlib.sha256(p.read_bytes()).hexdigest()
    assert dict(rec.skipped) == {"no user id": 1, "unreadable timestamp 'ayer'": 1}
    assert posts.repost.tolist() == [-1, -1] and posts.reply.tolist() == [-1, -1]  # NA, None: missing
    # a hashtags column is the export's word: its empty cell means none (the text is not searched)
    assert [posts.hashtag_values[i] for i in posts.hashtags.ids] == ["dos"]
    assert len(posts.urls.ids) == 0


def test_twitter_v1_jsonl_gzip(tmp_path: Path) -> None:
    tweets = [
        {
            "id_str": "1212092628029698048",
            "created_at": "Tue Dec 31 23:59:59 +0000 2019",
            "user": {"id_str": "42", "screen_name": "ana", "created_at": "Mon Dec 30 10:00:00 +0000 2019"},
            "full_text": "mira https://t.co/x",
            "entities": {
                "urls": [{"expanded_url": "https://example.org/a"}],
                "hashtags": [{"text": "Uno"}],
                "user_mentions": [],
            },
            "source": '<a href="https://ifttt.com">IFTTT</a>',
        },
        {
            "id_str": "1212092628029698049",
            "user": {"id_str": "43", "screen_name": "beto"},
            "text": "RT @ana: mira",
            "retweeted_status": {"id_str": "1212092628029698048"},
        },
    ]
    p = tmp_path / "v1.jsonl.gz"
    with gzip.open(p, "wt") as f:
        for t in tweets:
            f.write(json.dumps(t) + "\n")
        f.write("{not json\n")
    assert detect_format(p) == "twitter-v1"
    posts, rec = load(p)
    assert rec.posts == 2 and rec.skipped["not JSON"] == 1 and rec.times["snowflake"] == 2
    assert posts.ref_ids[posts.repost[1]] == "1212092628029698048"
    assert posts.url_values == ["https://example.org/a"] and posts.client_values == ["IFTTT"]
    assert posts.created_ms[0] > 0 and rec.sha256 == hashlib.sha256(p.read_bytes()).hexdigest()


def test_twitter_v2_pages(tmp_path: Path) -> None:
    page = {
        "data": [
            {
                "id": "7",
                "author_id": "1",
                "created_at": "2023-11-14T22:13:20.000Z",
                "text": "hola @beto #Dos",
                "entities": {"mentions": [{"username": "beto"}], "hashtags": [{"tag": "Dos"}]},
            },
            {
                "id": "8",
                "author_id": "2",
                "created_at": "2023-11-14T22:13:21.000Z",
                "text": "RT @ana: hola",
                "referenced_tweets": [{"type": "retweeted", "id": "7"}],
            },
            {
                "id": "9",
                "author_id": "2",
                "created_at": "2023-11-14T22:13:22.000Z",
                "text": "@ana sí",
                "referenced_tweets": [{"type": "replied_to", "id": "7"}],
                "in_reply_to_user_id": "1",
            },
        ],
        "includes": {
            "users": [
                {"id": "1", "username": "ana", "created_at": "2023-01-01T00:00:00.000Z"},
                {"id": "2", "username": "beto"},
            ]
        },
    }
    p = tmp_path / "v2.jsonl"
    p.write_text(json.dumps(page) + "\n")
    posts, rec = load(p)
    assert rec.format == "twitter-v2" and rec.posts == 3 and rec.times["field"] == 3
    assert posts.usernames == [["ana"], ["beto"]] and posts.repost[1] >= 0 and posts.reply[2] >= 0
    assert posts.time_ms.tolist() == [T0, T0 + 1000, T0 + 2000]


def test_x_archive_and_coortweet(tmp_path: Path) -> None:
    x = tmp_path / "io.csv"
    x.write_text(
        "tweetid,userid,user_display_name,user_screen_name,account_creation_date,tweet_text,tweet_time,"
        "tweet_client_name,in_reply_to_userid,in_reply_to_tweetid,is_retweet,retweet_userid,retweet_tweetid,"
        "hashtags,urls,user_mentions\n"
        "11,u1,U,uno,2017-05-08,hola,2017-05-09 09:41,dlvr.it,,,False,,,\"['a', 'b']\",['http://dlvr.it/P'],[]\n"
        "12,u2,D,dos,2017-05-08,RT,2017-05-09 09:42,Twitter Web Client,,,True,u1,11,[],[],[]\n"
    )
    posts, rec = load(x)
    assert rec.format == "x-io" and rec.posts == 2
    assert [posts.hashtag_values[i] for i in posts.hashtags.ids] == ["a", "b"]
    assert posts.ref_ids[posts.repost[1]] == "11" and posts.repost[0] == -1
    c = tmp_path / "coor.csv"
    c.write_text(
        "object_id,account_id,content_id,timestamp_share\nobj1,a,c1,1700000000\nobj1,b,c2,1700000005\n"
    )
    posts, rec = load(c)
    assert rec.format == "coortweet" and posts.ref_ids == ["obj1"]


def test_mapping_file_for_other_platforms(tmp_path: Path) -> None:
    data = tmp_path / "telegram.jsonl"
    data.write_text(
        json.dumps(
            {
                "msg": {"id": 5, "from": {"id": "chan1", "name": "Canal"}},
                "date": "14/11/2023 22:13",
                "body": "hola -",
            }
        )
        + "\n"
        + json.dumps({"msg": {"id": 6, "from": {"id": "-"}}, "date": "14/11/2023 22:14", "body": "x"})
        + "\n"
    )
    m = tmp_path / "map.toml"
    m.write_text(
        'format = "jsonl"\ntime_format = "%d/%m/%Y %H:%M"\nmissing = ["-"]\n'
        '[columns]\nmessage_id = "msg.id"\nuser_id = "msg.from.id"\nusername = "msg.from.name"\n'
        'timestamp = "date"\ntext = "body"\n'
    )
    posts, rec = load(data, mapping=m)
    assert (
        rec.posts == 1 and rec.skipped["no user id"] == 1 and rec.mapping and len(rec.mapping["sha256"]) == 64
    )
    assert posts.users == ["chan1"] and posts.time_ms[0] == T0 - 20_000
    bad = tmp_path / "bad.toml"
    bad.write_text('[columns]\nmessage_id = "a"\nuser = "b"\n')
    with pytest.raises(InputError, match="unknown field"):
        load_mapping(bad)


def test_hostile_files_are_bounded(tmp_path: Path) -> None:
    """Garbage bytes, a huge CSV field and a long JSON line: rows skipped with reasons, no crash."""
    p = tmp_path / "hostile.csv"
    with open(p, "wb") as f:
        f.write(b"message_id,user_id,timestamp,text\n")
        f.write(b"1,a,1700000000,ok\n")
        f.write(b'2,b,1700000001,"' + b"x" * 300_000 + b'"\n')
        f.write(b"3,\xff\xfe\x00c,1700000002,\x00\x01 bytes\n")
        f.write(b"4,d,1700000003,fin\n")
    posts, rec = load(p)
    assert rec.posts >= 2 and sum(rec.skipped.values()) >= 1 and "a" in posts.users and "d" in posts.users
    j = tmp_path / "long.jsonl"
    with open(j, "w") as f:
        f.write(
            json.dumps({"message_id": "1", "user_id": "a", "timestamp": 1700000000, "text": "x" * 1000})
            + "\n"
        )
        f.write("[" * 100_000 + "\n")
    posts, rec = load(j, "tequio")
    assert rec.posts == 1


def test_cli_errors_are_one_line(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    p = tmp_path / "e.csv"
    p.write_text("a,b\n1,2\n")
    out = str(tmp_path / "o")
    assert "no message_id and user_id" in refused(cli("bots", "analyze", str(p), "--out", out))
    assert "--networks" in refused(cli("bots", "analyze", str(p), "--out", out, "--networks", "co_magic"), 2)
    assert refused(cli("bots", "analyze", str(tmp_path / "missing.csv"), "--out", out), 2)
    assert refused(cli("bots", "analyze", str(p), "--out", out, "--window", "-3"), 2)
    m = tmp_path / "m.toml"
    m.write_text("not toml [[[")
    assert "does not parse" in refused(cli("bots", "analyze", str(p), "--out", out, "--map", str(m)))
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert "empty" in refused(cli("bots", "analyze", str(empty), "--out", out))
