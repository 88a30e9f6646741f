"""The web pages from the command line: accounts, the certificate, ``tequio serve`` printing the address."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from tequio.node.web.tls import CERT_FILE, KEY_FILE
from tests.conftest import TEQUIO, CliResult
from tests.webkit import PASSWORD, token_in


@pytest.fixture
def home(cli: Callable[..., CliResult]) -> Path:
    assert cli("init", "--name", "Casa de la Memoria").code == 0
    return cli.home  # type: ignore[attr-defined,no-any-return]


def test_init_makes_a_certificate_whose_fingerprint_info_shows(
    cli: Callable[..., CliResult], home: Path
) -> None:
    assert (home / KEY_FILE).stat().st_mode & 0o077 == 0
    info = json.loads(cli("info", "--json").out)
    der = ssl.PEM_cert_to_DER_cert((home / CERT_FILE).read_text())
    digest = hashlib.sha256(der).hexdigest().upper()
    assert info["web_certificate"].replace(":", "") == digest
    assert info["web_port"] == 7349
    got = json.loads(cli("web", "qr", "--json").out)
    assert got == {"url": "http://127.0.0.1:7349/", "certificate_sha256": info["web_certificate"]}
    text = cli("web", "qr")
    assert text.code == 0 and info["web_certificate"] in text.out and "█" in text.out + "▀▄"


def test_user_add_list_remove(cli: Callable[..., CliResult], home: Path) -> None:
    r = cli("user", "add", "Ana Pérez", "--role", "admin", "--password-env", "PW", env={"PW": PASSWORD})
    assert r.code == 0 and "added Ana Pérez (admin)" in r.out and PASSWORD not in r.out + r.err
    r = cli("user", "add", "luz", "--role", "member", "--json")
    link = json.loads(r.out)["setup_link"]
    assert re.fullmatch(r"http://127\.0\.0\.1:7349/setup/[0-9a-f]{48}", link)
    r = cli("user", "add", "beto", "--role", "reader")
    assert "/setup/" in r.out and ("█" in r.out or "▀" in r.out or "▄" in r.out)  # the QR
    listed = json.loads(cli("user", "list", "--json").out)
    assert [(u["name"], u["role"], u["password"]) for u in listed] == [
        ("Ana Pérez", "admin", True),
        ("beto", "reader", False),
        ("luz", "member", False),
    ]
    assert cli("user", "remove", "beto").code == 0
    assert [u["name"] for u in json.loads(cli("user", "list", "--json").out)] == ["Ana Pérez", "luz"]


@pytest.mark.parametrize(
    ("args", "env", "code", "message"),
    [
        (("user", "add", "ana", "--role", "root"), {}, 2, "Invalid value for '--role'"),
        (("user", "add", "\x1b[2Jana", "--role", "admin"), {}, 1, "a user name is 1-64 letters"),
        (("user", "add", "ana", "--role", "admin", "--password-env", "NOPE"), {}, 1, "$NOPE is not set"),
        (
            ("user", "add", "ana", "--role", "admin", "--password-env", "PW"),
            {"PW": "short"},
            1,
            "at least 10",
        ),
        (("user", "remove", "nadie"), {}, 1, "there is no user 'nadie'"),
        (("user", "link", "nadie"), {}, 1, "there is no user 'nadie'"),
    ],
)
def test_user_commands_refuse_bad_input_in_one_line(
    cli: Callable[..., CliResult],
    home: Path,
    args: tuple[str, ...],
    env: dict[str, str],
    code: int,
    message: str,
) -> None:
    r = cli(*args, env=env)
    assert r.code == code and message in r.err, r.err
    assert "Traceback" not in r.err and "\x1b" not in r.err and len(r.err.strip().splitlines()) == 1


def test_user_commands_need_a_node(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    r = cli("user", "list", home_dir=tmp_path / "none")
    assert r.code == 1 and "no Tequio node" in r.err


def _set_web(home: Path, **values: str) -> None:
    path = home / "tequio.toml"
    text = path.read_text()
    head, _, web = text.partition("[web]\n")
    web_body, sep, rest = web.partition("\n[")
    for k, v in values.items():
        web_body = re.sub(rf"^{k} = .*$", f"{k} = {v}", web_body, flags=re.M)
    path.write_text(head + "[web]\n" + web_body + sep + rest)


@pytest.fixture
def serving(home: Path) -> Iterator[Callable[..., tuple[subprocess.Popen[str], str]]]:
    procs: list[subprocess.Popen[str]] = []

    def start(*extra: str) -> tuple[subprocess.Popen[str], str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEQUIO_")} | {
            "TEQUIO_HOME": str(home)
        }
        proc = subprocess.Popen(
            [
                TEQUIO,
                "serve",
                "--api-port",
                "0",
                "--fed-host",
                "127.0.0.1",
                "--fed-port",
                "0",
                "--no-discovery",
                *extra,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        lines = []
        for _ in range(12):
            line = proc.stdout.readline()  # type: ignore[union-attr]
            lines.append(line)
            if m := re.fullmatch(r"web  (https?://\S+/)\n", line):
                return proc, m.group(1)
        raise AssertionError(
            f"serve printed no web line: {lines} {proc.stderr.read() if proc.poll() is not None else ''}"
        )  # type: ignore[union-attr]

    yield start
    for p in procs:
        p.send_signal(signal.SIGTERM)
        _out, err = p.communicate(timeout=30)
        assert p.returncode == 0 and "Traceback" not in err, err


async def _login(
    session: aiohttp.ClientSession, url: str, ssl_ctx: ssl.SSLContext | None = None
) -> tuple[int, str]:
    async with session.get(url + "login", ssl=ssl_ctx if ssl_ctx is not None else True) as r:
        page = await r.text()
        assert 'name="name"' in page and 'name="password"' in page
    form = {"name": "ana", "password": PASSWORD, "next": "/", "csrf_token": token_in(page)}
    async with session.post(
        url + "login",
        data=form,
        headers={"Origin": url.rstrip("/")},
        ssl=ssl_ctx if ssl_ctx is not None else True,
    ) as r:
        return r.status, await r.text()


async def test_serve_prints_the_web_address_and_the_pages_answer(
    cli: Callable[..., CliResult], home: Path, serving: Callable[..., tuple[subprocess.Popen[str], str]]
) -> None:
    cli("user", "add", "ana", "--role", "admin", "--password-env", "PW", env={"PW": PASSWORD})
    _proc, url = serving("--web-port", "0")
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        status, page = await _login(s, url)
        assert status == 200 and "ana (admin)" in page and "Casa de la Memoria" in page


async def test_off_loopback_the_pages_use_tls_with_the_node_certificate(
    cli: Callable[..., CliResult], home: Path, serving: Callable[..., tuple[subprocess.Popen[str], str]]
) -> None:
    cli("user", "add", "ana", "--role", "admin", "--password-env", "PW", env={"PW": PASSWORD})
    _set_web(home, host='"0.0.0.0"')
    fp = json.loads(cli("info", "--json").out)["web_certificate"]
    _proc, url = serving("--web-port", "0")
    assert url.startswith("https://127.0.0.1:")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # a phone pins the fingerprint instead: so does this test
    port = int(url.rsplit(":", 1)[1].rstrip("/"))
    served = ssl.get_server_certificate(("127.0.0.1", port))
    assert hashlib.sha256(ssl.PEM_cert_to_DER_cert(served)).hexdigest().upper() == fp.replace(":", "")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        status, page = await _login(s, url, ctx)
        assert status == 200 and "ana (admin)" in page
        cookie = next(c for c in s.cookie_jar if "tequio_session" in c.key)
        assert cookie["secure"] and cookie.key.startswith("__Host-")
    async with aiohttp.ClientSession() as s:  # plain HTTP to the TLS port gets nothing
        with pytest.raises(aiohttp.ClientError):
            async with s.get(url.replace("https:", "http:") + "login") as r:
                await r.read()


async def test_plain_http_off_loopback_only_when_asked_and_with_a_warning(
    cli: Callable[..., CliResult], home: Path, serving: Callable[..., tuple[subprocess.Popen[str], str]]
) -> None:
    _set_web(home, host='"0.0.0.0"', insecure_http="true")
    proc, url = serving("--web-port", "0")
    assert url.startswith("http://127.0.0.1:")
    assert "warning: web.insecure_http" in proc.stdout.readline()  # type: ignore[union-attr]


async def test_a_taken_default_web_port_leaves_federation_serving(
    cli: Callable[..., CliResult], home: Path, serving: Callable[..., tuple[subprocess.Popen[str], str]]
) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        _set_web(home, port=str(taken))
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEQUIO_")} | {
            "TEQUIO_HOME": str(home)
        }
        args = [
            TEQUIO,
            "serve",
            "--api-port",
            "0",
            "--fed-host",
            "127.0.0.1",
            "--fed-port",
            "0",
            "--no-discovery",
        ]
        p = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            lines = [p.stdout.readline() for _ in range(4)]  # type: ignore[union-attr]
            assert (
                any(line.startswith("federation http://") for line in lines) and "Ctrl-C to stop\n" in lines
            )
            assert p.poll() is None  # still serving
        finally:
            p.send_signal(signal.SIGTERM)
            _out, err = p.communicate(timeout=30)
        assert f"warning: web pages not served: cannot listen on 127.0.0.1:{taken}" in err
        # Asked for on the command line, the port must be had: one clear line and a non-zero exit.
        r = subprocess.run(
            [*args, "--web-port", str(taken)], env=env, capture_output=True, text=True, timeout=60
        )
        assert r.returncode == 1 and "cannot listen on" in r.stderr and "Traceback" not in r.stderr
