"""``DELETE /api/users/{id}``: erasure through HTTP, for admin keys only, through a real serve."""

from __future__ import annotations

from pathlib import Path

from dashkit import serve

from caliper_stream.store import open_store


def _files(db: str) -> bytes:
    path = Path(db.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def test_only_an_admin_key_erases_a_person_and_nothing_of_them_is_left(store_url: str, tmp_path: Path) -> None:
    for dash in serve(store_url, tmp_path):
        store = open_store(store_url)
        try:
            (uuid, pk, external), other = store.query(
                "SELECT user_uuid, user_pk, user_external_id FROM events WHERE type = 'GradeEvent'"
                " AND user_uuid IS NOT NULL GROUP BY user_uuid, user_pk, user_external_id ORDER BY user_uuid LIMIT 2"
            )
            other_before = store.query("SELECT COUNT(*) FROM events WHERE user_uuid = ?", (other[0],))[0][0]
        finally:
            store.close()
        for role in ("write", "read", "identity"):
            with dash.client(role) as c:
                assert c.delete(f"/api/users/{uuid}").status_code == 403, role
        with dash.client(None) as c:
            assert c.delete(f"/api/users/{uuid}").status_code == 401
        with dash.client("admin") as c:
            r = c.delete(f"/api/users/{uuid}")
            assert r.status_code == 200, r.text
            assert r.json()["events_redacted"] > 0
            assert uuid not in r.text
            assert external not in r.text
            assert c.delete("/api/users/nobody-of-that-name-1234").status_code == 404
        with dash.client(None) as c:
            assert c.get(f"/dashboard/students/{uuid}").status_code == 303  # to the sign-in page
        # the access log names the routes, never the people asked for
        log = (tmp_path / "server.log").read_text()
        assert '"path":"/api/users/{id}"' in log
        assert '"path":"/dashboard/students/{user}"' in log
        for ident in (uuid, external, "nobody-of-that-name-1234"):
            assert ident not in log, ident
        store = open_store(store_url)
        try:
            assert store.query("SELECT COUNT(*) FROM events WHERE user_uuid = ?", (uuid,))[0][0] == 0
            assert store.query("SELECT COUNT(*) FROM events WHERE user_uuid = ?", (other[0],))[0][0] == other_before
            audits = [r for r in store.query("SELECT actor, action, what, detail FROM audit ORDER BY id") if r[1] == "forget"]
            assert len(audits) == 2  # the erasure, and the request that named nobody
            assert {a[0] for a in audits} == {"admin-key"}
            assert uuid not in str(audits)
            assert external not in str(audits)
            if store.dialect == "postgresql":
                raw = b"".join(bytes(r[0]) for r in store.query("SELECT raw FROM events"))
            else:
                raw = None
        finally:
            store.close()
        if raw is None:
            raw = _files(store_url)
        for ident in (uuid, external):
            assert ident.encode() not in raw, ident
        assert pk  # the pk1 has the form of other pk1s; the store rewrites it only where it names a person
