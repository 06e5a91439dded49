"""Dashboard test kit: a simulated term in a store, served by a real ``caliper-stream serve``, with one key per role.

The term comes from the simulator (``simulate --out`` then ``import``), plus one payload Learn
could send that is not a Caliper event, so that the store holds a dead letter too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx

from caliper_stream.store import Store, open_store
from server.harness import Server, cli

BAD_PAYLOAD = b'{"sensor": "x", "sendTime": "2026-01-05T00:00:00.000Z", "dataVersion": "http://purl.imsglobal.org/ctx/caliper/v1p1", "data": [{"type": "ViewEvent"}]}'


class Dash:
    """The running server, its store and a key of each kind."""

    def __init__(self, server: Server, keys: dict[str, str]) -> None:
        self.server = server
        self.keys = keys
        self.url = server.url
        self.store: Store = open_store(server.db)

    def client(self, key: str | None = "read") -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[key]}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def get(self, path: str, key: str | None = "read", **params: object) -> httpx.Response:
        with self.client(key) as c:
            return c.get(path, params=params) if params else c.get(path)  # a next link keeps its query

    def api(self, path: str, **params: object) -> dict:  # type: ignore[type-arg]
        r = self.get(path, **params)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def sign_in(self, client: httpx.Client, key: str) -> httpx.Response:
        form = client.get("/dashboard/sign-in")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token is not None
        return client.post("/dashboard/sign-in", data={"csrf": token.group(1), "key": key},
                           headers={"Origin": self.url})


def build(db: str, tmp: Path) -> dict[str, str]:
    """Fill `db` with a simulated term and a dead letter; return new keys by role."""
    term = tmp / "term.jsonl"
    cli("simulate", "--courses", "2", "--students", "14", "--days", "10", "--seed", "5", "--out", str(term))
    bad = tmp / "bad.json"
    bad.write_bytes(BAD_PAYLOAD)
    cli("import", str(term), "--db", db, "-q")
    refused = cli("import", str(bad), "--db", db, "-q", check=False)  # no event in it: exit 1, kept as a dead letter
    assert refused.returncode == 1, refused.stderr
    keys = {}
    for name, args in (("write", ()), ("read", ("--role", "read")), ("identity", ("--role", "read", "--identity")),
                       ("admin", ("--role", "admin"))):
        keys[name] = cli("keys", "add", f"{name}-key", "--db", db, *args).stdout.strip()
    return keys


def serve(db: str, tmp: Path) -> Iterator[Dash]:
    open_store(db).close()
    keys = build(db, tmp)
    server = Server(db, tmp / "server.log", "--key-cache-seconds", "0").start()
    dash = Dash(server, keys)
    try:
        yield dash
    finally:
        dash.store.close()
        server.stop()
