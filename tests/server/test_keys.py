"""Registering keys through the CLI, checked against a real ``serve``: one key, one source, and
no key that anyone could guess."""

from __future__ import annotations

import uuid

from harness import Site, cli
from payloads import envelope, learn_events


def test_a_key_active_under_one_name_is_refused_for_another(site: Site) -> None:
    key = str(uuid.uuid4())
    assert cli("keys", "add", "first-name", "--key", key, "--db", site.server.db).returncode == 0
    dup = cli("keys", "add", "dupname", "--key", key, "--db", site.server.db, check=False)
    assert dup.returncode == 1
    assert "already the active key of 'first-name'" in dup.stderr
    assert "Traceback" not in dup.stderr
    assert site.post(envelope(learn_events(1)), key=key).status_code == 200
    # revoking the one name it was registered under really takes the key out of service
    cli("keys", "revoke", "first-name", "--db", site.server.db)
    assert site.post(envelope(learn_events(1)), key=key).status_code == 401
    assert "dupname" not in cli("keys", "list", "--db", site.server.db).stdout


def test_short_or_guessable_keys_are_refused_unless_forced(site: Site) -> None:
    for weak, why in (("abc", "3 characters"), ("aaaaaaaaaaaaaaaaaaaa", "entropy"), ("abcabcabcabcabcabcab", "entropy")):
        result = cli("keys", "add", f"weak-{uuid.uuid4().hex[:6]}", "--key", weak, "--db", site.server.db, check=False)
        assert result.returncode == 1, weak
        assert "refusing a weak key" in result.stderr
        assert why in result.stderr
        assert "--force" in result.stderr
        assert site.post(envelope(learn_events(1)), key=weak).status_code == 401
    forced = cli("keys", "add", "forced-site", "--key", "abcdefgh12345", "--force", "--db", site.server.db)
    assert forced.returncode == 0
    assert site.post(envelope(learn_events(1)), key="abcdefgh12345").status_code == 200
