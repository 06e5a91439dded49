"""The gradebook report against what Grade Center shows, on real SQLite and PostgreSQL stores.

The ground truth is the simulator's own Grade Center (``simulate --truth``), built from what the
term did, never from the events; the report only sees the events, imported with ``import`` in
whatever order they arrive.
"""

from __future__ import annotations

import csv
import gzip
import random
import sqlite3
import statistics
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from caliper_stream.analyse import (
    REPORTS,
    grade_distribution,
    grade_matrix,
    gradebook,
    gradebook_cell,
)
from caliper_stream.analyse.gradebook import _median, grade_matrix_page, refresh
from caliper_stream.cli import emit, names, reports, storage
from caliper_stream.ingest import Row, prepare
from caliper_stream.read import read_path
from caliper_stream.sensor.builders import encode
from caliper_stream.simulate import TermConfig
from caliper_stream.simulate.term import Term
from caliper_stream.store import open_store

app = typer.Typer()
for module in (emit, storage, names, reports):
    module.register(app)
runner = CliRunner()

#: one term's size for the truth tests: small enough to import into PostgreSQL in seconds
TERM = ("--courses", "2", "--students", "30", "--days", "28")


def cli(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


_TERMS: dict[tuple[int, str], tuple[Path, Path, Path]] = {}


def simulate(tmp: Path, seed: int, version: str = "1.1") -> tuple[Path, Path, Path]:
    """``simulate --out --truth --names`` once per seed and version (both backends read the files)."""
    if (seed, version) not in _TERMS:
        folder = Path(tempfile.mkdtemp(prefix=f"term-{seed}-{version}-", dir=tmp.parent.parent))
        out, truth, names_csv = folder / "term.jsonl.gz", folder / "truth.csv", folder / "names.csv"
        cli("simulate", *TERM, "--seed", str(seed), "--version", version, "--out", str(out), "--truth", str(truth), "--names", str(names_csv))
        _TERMS[(seed, version)] = (out, truth, names_csv)
    return _TERMS[(seed, version)]


def read_truth(path: Path) -> dict[tuple[str, str, str], dict[str, str]]:
    with path.open(newline="") as fh:
        return {(r["course_number"], r["user_uuid"], r["gradable_item_pk"]): r for r in csv.DictReader(fh)}


def num(text: str) -> float | None:
    return float(text) if text else None


def assert_matches(book: list[dict[str, Any]], truth: dict[tuple[str, str, str], dict[str, str]]) -> None:
    got = {(r["course_number"], r["user_uuid"], r["gradable_item_pk"]): r for r in book}
    assert set(got) == set(truth)
    for key, t in truth.items():
        g = got[key]
        expected = (num(t["score"]), t["source"] or None, t["status"] or None, int(t["attempts"]), int(t["deleted_attempts"]), t["override"] or None)
        assert (g["score"], g["source"], g["status"], g["attempts"], g["deleted_attempts"], g["override"]) == pytest.approx(expected), key
        assert g["max_score"] == num(t["max_score"]), key


def scenarios(truth: dict[tuple[str, str, str], dict[str, str]]) -> Counter[str]:
    """Which of the cases the issue names this term exercises."""
    seen: Counter[str] = Counter()
    for t in truth.values():
        seen[t["status"]] += 1
        seen[f"override {t['override']}"] += 1
        if t["status"] == "graded" and int(t["deleted_attempts"]):
            seen["last attempt deleted, earlier counts"] += 1
        if int(t["attempts"]) > 1:
            seen["several attempts"] += 1
    return seen


@pytest.mark.parametrize(("seed", "version"), [(1, "1.1"), (2, "1.1"), (3, "1.0")])
def test_report_is_what_grade_center_shows(store_url: str, tmp_path: Path, seed: int, version: str) -> None:
    events, truth_csv, names_csv = simulate(tmp_path, seed, version)
    cli("import", "--db", store_url, str(events))
    cli("names", "load", str(names_csv), "--db", store_url)
    truth = read_truth(truth_csv)
    seen = scenarios(truth)
    cases = ("graded", "needs grading", "overridden", "attempt deleted", "override cleared", "several attempts", "last attempt deleted, earlier counts")
    for case in cases:
        assert seen[case], (case, seen)
    with open_store(store_url) as store:
        book = gradebook(store)
        assert_matches(book, truth)
        # names next to ids, from the loaded CSV
        with names_csv.open(newline="") as fh:
            people = {r["uuid"]: f"{r['firstname']} {r['lastname']}" for r in csv.DictReader(fh) if r["kind"] == "user"}
        assert all(r["user_name"] == people[r["user_uuid"]] for r in book)
        assert all(r["course_name"] and r["item_name"] for r in book)
        # every filter answers the subset of the whole
        one = book[len(book) // 2]
        assert gradebook(store, course=one["course_number"]) == [r for r in book if r["course_number"] == one["course_number"]]
        assert gradebook(store, user=one["user_external_id"]) == [r for r in book if r["user_uuid"] == one["user_uuid"]]
        assert gradebook(store, item=one["gradable_item_pk"]) == [r for r in book if r["gradable_item_pk"] == one["gradable_item_pk"]]
        # folding straight from the events (detail) agrees with the kept cells
        detailed = gradebook(store, detail=True)
        assert [{k: v for k, v in r.items() if k not in ("attempt_list", "override_detail", "history")} for r in detailed] == book
        assert all(len(r["history"]) == r["grade_events"] for r in detailed)


def test_matrix_and_distribution_follow_the_truth(store_url: str, tmp_path: Path) -> None:
    events, truth_csv, names_csv = simulate(tmp_path, 2)
    cli("import", "--db", store_url, str(events))
    cli("names", "load", str(names_csv), "--db", store_url)
    truth = read_truth(truth_csv)
    with open_store(store_url) as store:
        course = sorted({k[0] for k in truth})[0]
        matrix = grade_matrix(store, course=course)
        items = {k[2] for k in truth if k[0] == course}
        for row in matrix:
            columns = {h.rsplit("|", 1)[1]: v for h, v in row.items() if "|" in h}
            assert set(columns) == items
            for pk, value in columns.items():
                t = truth.get((course, row["user_uuid"], pk))
                if t is None:
                    assert value == ""
                elif t["score"]:
                    assert value == pytest.approx(float(t["score"]))
                else:
                    assert value == ("Needs Grading" if t["status"] == "needs grading" else "")
        assert {r["user_uuid"] for r in matrix} == {k[1] for k in truth if k[0] == course}
        # site-wide: each row is its course's row, with that course's columns only
        site = grade_matrix(store)
        courses = {k[0] for k in truth}
        assert len(courses) > 1
        assert sorted(map(str, site)) == sorted(str(r) for c in sorted(courses) for r in grade_matrix(store, course=c))
        assert all(r["Last Name"] and r["First Name"] and r["Username"] for r in matrix)
        for filters in ({}, {"course": course}, {"item": sorted(items)[0]}, {"since": "2026-02-01"},
                        {"user": next(iter(truth))[1]}):
            whole = grade_matrix(store, **filters)
            for limit in (1, 7, 1000):
                pages: list[dict[str, Any]] = []
                for offset in range(0, len(whole) + limit, limit):
                    found = grade_matrix_page(store, limit=limit, offset=offset, **filters)
                    assert found is not None
                    assert found[1] == len(whole)
                    pages += found[0]
                assert pages == whole, (filters, limit)
        site_distribution = grade_distribution(store)
        # grouped in the database, or tallied from cells folded from the events: one answer
        assert site_distribution == grade_distribution(store, until="9999-12-31")
        assert grade_distribution(store, course=course) == [r for r in site_distribution if r["course_number"] == course]
        by_item = {(r["course_number"], r["gradable_item_pk"]): r for r in site_distribution}
        for (c, pk), row in by_item.items():
            cells = [t for k, t in truth.items() if (k[0], k[2]) == (c, pk)]
            scores = [float(t["score"]) for t in cells if t["score"]]
            assert row["cells"] == len(cells)
            assert row["needs_grading"] == sum(t["status"] == "needs grading" for t in cells)
            assert row["overridden"] == sum(t["status"] == "overridden" for t in cells)
            assert sum(row[band] for band in ("90-100", "80-89", "70-79", "60-69", "50-59", "40-49", "30-39", "20-29", "10-19", "0-9", ">100", "<0")) == len(scores)
            if scores:
                assert row["max"] == pytest.approx(max(scores))
                assert row["mean"] == pytest.approx(sum(scores) / len(scores), abs=0.01)
    # the CLI writes the matrix as a Grade Center-like CSV
    out = cli("report", "gradebook", "--matrix", "--course", course, "--db", store_url, "--format", "csv")
    header = next(csv.reader(out.splitlines()))
    assert header[:6] == ["course_number", "course_name", "Last Name", "First Name", "Username", "Student ID"]
    assert any(h.endswith(" Score] |" + pk) for h in header for pk in items)


def test_arrival_in_pieces_and_out_of_order_gives_the_same_gradebook(store_url: str, tmp_path: Path) -> None:
    """Envelopes imported in three shuffled parts, the report asked between them (so that its
    cells are refreshed from a partial store), ends where Grade Center does."""
    events, truth_csv, _ = simulate(tmp_path, 1)
    lines = gzip.decompress(events.read_bytes()).splitlines(keepends=True)
    random.Random(5).shuffle(lines)
    parts = [lines[i::3] for i in range(3)]
    parts[2] += parts[0][:50]  # re-delivered
    for i, part in enumerate(parts):
        path = tmp_path / f"part{i}.jsonl"
        path.write_bytes(b"".join(part))
        cli("import", "--db", store_url, str(path))
        with open_store(store_url) as store:
            partial = gradebook(store)
            assert partial == gradebook(store, detail=False, until="9999")  # kept cells == fold of the events
    with open_store(store_url) as store:
        assert_matches(gradebook(store), read_truth(truth_csv))


def test_one_cell_with_its_history(store_url: str, tmp_path: Path) -> None:
    events, truth_csv, _ = simulate(tmp_path, 1)
    cli("import", "--db", store_url, str(events))
    truth = read_truth(truth_csv)
    key = next(k for k, t in truth.items() if t["override"] == "cleared")
    with open_store(store_url) as store:
        cell = gradebook_cell(store, key[0], key[1], key[2])
        assert cell is not None
        assert gradebook_cell(store, key[0], key[1], "_0_1") is None
    assert cell["score"] == pytest.approx(num(truth[key]["score"]))
    actions = [h["action"] for h in cell["history"]]
    assert "instructor.grade.history.event.override.grade" in actions
    assert "instructor.grade.history.event.override.clear" in actions
    times = [h["event_time"] for h in cell["history"]]
    assert times == sorted(times)
    assert all(h["received_at"] and h["who"].endswith("/applications/learn") for h in cell["history"])
    assert cell["override_detail"]["active"] is False
    assert {a["attempt_pk"] for a in cell["attempt_list"]} == {h["attempt_pk"] for h in cell["history"]}


def test_reports_are_registered_with_keyword_filters() -> None:
    import inspect

    for name in ("gradebook", "grade-matrix", "grade-distribution"):
        params = inspect.signature(REPORTS[name]).parameters
        for f in ("course", "user", "item", "since", "until"):
            assert params[f].kind is inspect.Parameter.KEYWORD_ONLY
            assert params[f].default is None


# --- arrival order, as a property (SQLite files, library level) ----------------------------


def _term_rows() -> tuple[list[Row], list[dict[str, Any]]]:
    term = Term(TermConfig(courses=1, students=8, days=24, seed=11))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.jsonl"
        path.write_bytes(b"\n".join(encode(p.built.event) for p in term.planned()) + b"\n")
        rows = [r for r in prepare(read_path(path), source="term").rows if r.keydata.type == "GradeEvent"]
    return rows, term.gradecenter.rows()


ROWS, TRUTH = _term_rows()


def _book(url: str) -> list[dict[str, Any]]:
    with open_store(url) as store:
        return gradebook(store)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False), st.integers(1, 4), st.floats(0, 0.3))
def test_any_arrival_order_and_redelivery_gives_the_same_gradebook(rnd: random.Random, pieces: int, again: float) -> None:
    arrived = list(ROWS)
    rnd.shuffle(arrived)
    arrived += rnd.sample(ROWS, int(len(ROWS) * again))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/events.db"
        with open_store(url) as store:
            for i in range(pieces):
                store.write(arrived[i::pieces])
                gradebook(store)  # refresh the kept cells from a partial store
            book = gradebook(store)
    truth = {(t["course_number"], t["user_uuid"], t["gradable_item_pk"]): t for t in TRUTH}
    assert {(r["course_number"], r["user_uuid"], r["gradable_item_pk"]) for r in book} == set(truth)
    for r in book:
        t = truth[(r["course_number"], r["user_uuid"], r["gradable_item_pk"])]
        assert (r["score"], r["source"], r["status"]) == (t["score"], t["source"], t["status"])


def test_deleted_events_rebuild_the_kept_cells(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    with open_store(url) as store:
        store.write(ROWS)
        before = gradebook(store)
        assert refresh(store) == 0  # nothing new: nothing recomputed
    gone = before[0]
    with sqlite3.connect(tmp_path / "events.db") as conn:
        conn.execute(
            "DELETE FROM events WHERE user_uuid = ? AND gradable_item_pk = ?", (gone["user_uuid"], gone["gradable_item_pk"])
        )
    with open_store(url) as store:
        after = gradebook(store)
    assert after == before[1:]


@given(st.lists(st.tuples(st.integers(-5, 120).map(float), st.integers(1, 30)), min_size=1, max_size=40))
def test_median_of_counted_scores_is_the_median_of_the_scores(pairs: list[tuple[float, int]]) -> None:
    merged: Counter[float] = Counter()
    for value, count in pairs:
        merged[value] += count
    scores = [v for v, c in merged.items() for _ in range(c)]
    assert _median(sorted(merged.items()), len(scores)) == statistics.median(scores)


@pytest.mark.postgres
def test_postgresql_reads_the_kept_cells_in_key_order_after_a_big_write(pg_url: str) -> None:
    """After thousands of cells are written, PostgreSQL has statistics for ``gb_cells`` and reads
    a site's gradebook along its primary key instead of sorting the whole table."""
    cells = [(f"C-{c}", f"ext-{u:05d}", f"u{u:05d}", f"_{i}_1", f"u{u:05d}", f"_{u}_1", f"ext-{u:05d}", 7.0, "attempt",
              10.0, "graded", 1, 0, None, "2026-01-01T00:00:00.000Z", 1, "attempt.grade")
             for c in range(3) for u in range(150) for i in range(10)]
    with open_store(pg_url) as store:
        store.put_gradebook([f"C-{c}" for c in range(3)], cells, [], 0, 0)
        plan = "\n".join(r[0] for r in store.query("EXPLAIN SELECT * FROM gb_cells ORDER BY course_number, user_sort, user_key, item_pk"))
    assert "Index Scan using gb_cells_pkey" in plan, plan
    assert "Sort" not in plan.replace("Sort Key", ""), plan


def test_kept_item_statistics_follow_points_possible_loaded_later(store_url: str, tmp_path: Path) -> None:
    """Caliper 1.0 grade events carry no max score: an item's percent bands come from the points
    possible an admin loads, even after its statistics were kept without them."""
    events, _, names_csv = simulate(tmp_path, 3, "1.0")
    cli("import", "--db", store_url, str(events))
    with open_store(store_url) as store:
        before = grade_distribution(store)
        assert before
        assert all(r["max_score"] is None for r in before)
        assert all(r["90-100"] == 0 for r in before)  # no max score: no percent
    cli("names", "load", str(names_csv), "--db", store_url)
    with open_store(store_url) as store:
        after = grade_distribution(store)
        assert after == grade_distribution(store, until="9999-12-31")
        assert [r["cells"] for r in after] == [r["cells"] for r in before]
        assert all(r["max_score"] is not None for r in after)
        assert sum(r["90-100"] + r["80-89"] + r["0-9"] for r in after) > 0
