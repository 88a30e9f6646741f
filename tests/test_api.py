"""The local API: a real ``tequio serve`` on 127.0.0.1, token authentication, and hostile requests."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from tequio.node import Node
from tequio.node.api import RECORDS_MEDIA_TYPE, make_api_app
from tests.conftest import TEQUIO, Feed, key


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str, dict[str, str]]]:
    """A node initialised and served by the real CLI; yields (base url, token, env)."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEQUIO_")} | {"TEQUIO_HOME": str(home)}
    subprocess.run([TEQUIO, "init", "--name", "Servida"], env=env, check=True, capture_output=True)
    token = json.loads(
        subprocess.run([TEQUIO, "info", "--json"], env=env, check=True, capture_output=True).stdout
    )["api_token"]
    proc = subprocess.Popen(
        [TEQUIO, "serve", "--api-port", "0", "--fed-port", "0", "--web-port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = None
        for _ in range(5):
            line = proc.stdout.readline()
            if m := re.search(r"local API\s+(http://127\.0\.0\.1:\d+/api/v1/)", line):
                url = m.group(1)
                break
        assert url, proc.stderr.read() if proc.poll() is not None else "serve printed no address"
        yield url, token, env
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "stopped" in out and "Traceback" not in err


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def test_serve_publish_list_and_token(served, session: aiohttp.ClientSession) -> None:
    url, token, env = served
    auth = {"Authorization": f"Bearer {token}"}
    async with session.get(url + "info") as r:
        assert r.status == 401 and (await r.json())["error"] == "unauthorized"
    async with session.get(url + "info", headers={"Authorization": "Bearer " + "0" * 64}) as r:
        assert r.status == 401
    async with session.get(url + "info", headers=auth) as r:
        assert r.status == 200 and (await r.json())["name"] == "Servida"
    async with session.post(
        url + "records", json={"kind": "core.note", "body": {"text": "desde la API"}}, headers=auth
    ) as r:
        assert r.status == 201
        rid = (await r.json())["id"]
    # A CLI command on the same home while serve runs: both see each other's records.
    cli = subprocess.run(
        [TEQUIO, "publish", "core.note", "--body", '{"text": "desde la terminal"}', "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 0, cli.stderr
    async with session.get(url + "records", headers=auth) as r:
        listed = (await r.json())["records"]
    assert [x["body"]["text"] for x in listed] == ["desde la API", "desde la terminal"]
    assert listed[1]["prev"] == rid
    async with session.get(url + f"records/{rid[:12]}", headers=auth) as r:
        assert (await r.json())["id"] == rid


async def test_serve_ingests_a_wire_stream(served, session: aiohttp.ClientSession) -> None:
    url, token, _ = served
    recs = Feed(key(5)).take(3)
    body = recs[0].wire + b"\xc1"  # the break is reported; the record before it is kept
    headers = {"Authorization": f"Bearer {token}", "Content-Type": RECORDS_MEDIA_TYPE}
    async with session.post(url + "records", data=body, headers=headers) as r:
        report = await r.json()
    assert report["accepted"] == 1 and report["rejected"][0]["reason"] == "malformed"
    async with session.post(url + "records", data=b"".join(x.wire for x in recs), headers=headers) as r:
        assert await r.json() == {"accepted": 2, "duplicates": 1, "rejected": []}


def test_serve_refuses_a_port_in_use(served, tmp_path: Path) -> None:
    url, _, env = served
    port = re.search(r":(\d+)/", url).group(1)
    # Another node's home: a second serve on the same home is refused earlier, by the home's lock.
    env = env | {"TEQUIO_HOME": str(tmp_path / "otra")}
    subprocess.run([TEQUIO, "init", "--name", "Otra"], env=env, check=True, capture_output=True)
    r = subprocess.run(
        [TEQUIO, "serve", "--api-port", port, "--fed-port", "0", "--web-port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}")


@pytest.fixture
async def client(node: Node) -> AsyncIterator[tuple[TestClient, dict[str, str]]]:
    async with TestClient(TestServer(make_api_app(node))) as c:
        yield c, {"Authorization": f"Bearer {node.api_token}"}


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "fragment"),
    [
        ("get", "/api/v1/records?limit=0", {}, 400, "limit must be between 1 and 1000"),
        ("get", "/api/v1/records?limit=x", {}, 400, "limit must be an integer"),
        ("get", "/api/v1/records?scope=secret", {}, 400, "scope must be"),
        ("get", "/api/v1/records?author=zz", {}, 400, "author:"),
        ("get", "/api/v1/records/abcdef0123", {}, 404, "no record with id"),
        (
            "post",
            "/api/v1/records",
            {"data": b"{", "headers": {"Content-Type": "application/json"}},
            400,
            "not JSON",
        ),
        ("post", "/api/v1/records", {"json": {"kind": 1}}, 400, "expected"),
        (
            "post",
            "/api/v1/records",
            {
                "data": b'{"kind": "core.note", "body": {"text": "one", "text": "two"}}',
                "headers": {"Content-Type": "application/json"},
            },
            400,
            "appears twice",
        ),
        (
            "post",
            "/api/v1/records",
            {
                "data": b'{"kind": "core.note", "body": {"text": NaN}}',
                "headers": {"Content-Type": "application/json"},
            },
            400,
            "NaN",
        ),
        (
            "post",
            "/api/v1/records",
            {"data": b"[" * 5000 + b"]" * 5000, "headers": {"Content-Type": "application/json"}},
            400,
            "nested",
        ),
        (
            "post",
            "/api/v1/records",
            {"json": {"kind": "core.note", "body": {"text": 1}}},
            400,
            "valid string",
        ),
        ("post", "/api/v1/records", {"json": {"kind": "core.note", "body": {"x": 1.5}}}, 400, "integers"),
        ("post", "/api/v1/records", {"data": b"x", "headers": {"Content-Type": "text/plain"}}, 415, "send"),
        ("get", "/api/v1/nothing", {}, 404, ""),
    ],
)
async def test_bad_requests_get_clear_json_errors(
    client, method: str, path: str, kwargs: dict, status: int, fragment: str
) -> None:
    c, auth = client
    headers = {**auth, **kwargs.pop("headers", {})}
    resp = await getattr(c, method)(path, headers=headers, **kwargs)
    assert resp.status == status
    doc = await resp.json()
    assert set(doc) == {"error", "detail"} and fragment in doc["detail"]


async def test_body_limit(node: Node) -> None:
    node.config.api.max_body = 1024
    async with TestClient(TestServer(make_api_app(node))) as c:
        resp = await c.post(
            "/api/v1/records",
            data=b"\x00" * 5000,
            headers={"Authorization": f"Bearer {node.api_token}", "Content-Type": RECORDS_MEDIA_TYPE},
        )
        assert resp.status == 413
    assert node.count() == 0


async def test_paging_with_next(client, node: Node) -> None:
    c, auth = client
    for i in range(5):
        node.publish("core.note", {"text": str(i)})
    seen, after = [], 0
    while True:
        doc = await (await c.get(f"/api/v1/records?limit=2&after={after}", headers=auth)).json()
        seen += [r["body"]["text"] for r in doc["records"]]
        if doc["next"] is None:
            break
        after = doc["next"]
    assert seen == ["0", "1", "2", "3", "4"]
