"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against a real server.

Each page must show the numbers the JSON API answers, clicking a gradebook cell must open its
history, a write key must not sign in, and no page may log a console error. Every page is saved
as a screenshot under ``tests/screenshots/`` (see the README). Nothing is downloaded: Chromium
is launched by its path. Without it the tests are skipped, except in CI (``CI=true``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from dashkit import Dash

CHROMIUM = os.environ.get("CALIPER_STREAM_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
IN_CI = os.environ.get("CI", "").lower() in ("true", "1", "yes")


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"browser tests cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    if not Path(CHROMIUM).is_file():
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Page:
    """A browser tab that records console errors and failed page scripts."""

    def __init__(self, browser: Any, dash: Dash) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.dash = dash
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, path: str) -> Any:
        self.page.goto(self.dash.url + path)
        self.page.wait_for_selector("#page[data-ready]", state="attached")
        assert self.page.get_attribute("#page", "data-ready") == "true", self.page.inner_text("main")
        return self.page

    def sign_in(self, key: str) -> None:
        self.page.goto(self.dash.url + "/dashboard/sign-in")
        self.page.fill("#key", key)
        self.page.click("#sign-in")
        self.page.wait_for_load_state()

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    def table(self, selector: str) -> list[dict[str, str]]:
        """The rows of the table inside `selector` as {column: text}."""
        return self.page.eval_on_selector(  # type: ignore[no-any-return]
            selector,
            """el => { const t = el.querySelector('table'); if (!t) return [];
                      const cols = [...t.tHead.rows[0].cells].map(c => c.textContent);
                      return [...t.tBodies[0].rows].map(r => Object.fromEntries([...r.cells].map((c, i) => [cols[i], c.textContent]))); }""",
        )

    def close(self) -> None:
        self.context.close()


def js_text(value: Any) -> str:
    """A JSON value as the page prints it (JavaScript's String())."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def as_text(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{k: js_text(v) for k, v in r.items()} for r in rows]


@pytest.fixture(scope="module")
def tab(chromium: Any, dash: Dash) -> Iterator[Page]:
    page = Page(chromium, dash)
    page.sign_in(dash.keys["read"])
    assert page.page.url.endswith("/dashboard/")
    try:
        yield page
    finally:
        page.close()


@pytest.fixture(autouse=True)
def _no_console_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "tab" in request.fixturenames:
        tab: Page = request.getfixturevalue("tab")
        errors, tab.errors[:] = list(tab.errors), []
        assert errors == [], errors


def test_a_write_key_is_refused_at_sign_in(chromium: Any, dash: Dash) -> None:
    page = Page(chromium, dash)
    try:
        page.sign_in(dash.keys["write"])
        assert page.page.url.endswith("/dashboard/sign-in")
        assert "cannot sign in" in page.page.inner_text("#error")
        page.shot("sign-in-refused")
        page.page.goto(dash.url + "/dashboard/")
        assert page.page.url.endswith("/dashboard/sign-in")  # no session was made
        assert [e for e in page.errors if "403" not in e] == []  # the refusal itself is a 403
    finally:
        page.close()


def test_site_page_shows_the_apis_numbers(tab: Page, dash: Dash) -> None:
    before = dash.api("/api/sources")["rows"]
    page = tab.open("/dashboard/")
    after = dash.api("/api/sources")["rows"]
    shown = tab.table("#table-sources")
    # Hours since the last event are reckoned at each request: the page's own request came
    # between these two, so its figure lies between theirs and every other column is equal.
    quiet = "hours_since_last_event"
    assert [{k: v for k, v in r.items() if k != quiet} for r in shown] == [
        {k: v for k, v in r.items() if k != quiet} for r in as_text(after)
    ]
    for row, low, high in zip(shown, before, after, strict=True):
        assert (low[quiet] is None) == (row[quiet] == "")
        if low[quiet] is not None:
            assert low[quiet] <= float(row[quiet]) <= high[quiet]
    assert tab.table("#table-courses") == as_text(dash.api("/api/reports/activity", by="course")["rows"])
    assert tab.table("#table-daily") == as_text(dash.api("/api/daily")["rows"])
    letters = dash.api("/api/deadletters")["rows"]
    assert tab.table("#table-deadletters") == as_text(letters)
    assert page.locator("#chart-daily-type .main-svg").count() > 0
    assert page.locator("#chart-daily-source .main-svg").count() > 0
    # one colour per series, however many event types the site sends
    colours = page.evaluate("[...document.getElementById('chart-daily-type')._fullData].map(t => t.marker.color)")
    types = {r["type"] for r in dash.api("/api/daily")["rows"]}
    assert len(types) > 10
    assert len(colours) == len(types)
    assert len(set(colours)) == len(colours)
    tab.shot("site")
    page.click(f"#table-deadletters a:text-is('{letters[0]['id']}')")
    page.wait_for_selector("#page[data-ready='true']", state="attached")
    reasons = dash.api(f"/api/deadletters/{letters[0]['id']}")["reasons"]
    assert tab.table("#table-reasons") == as_text(reasons)
    tab.shot("deadletter")


def expected_marks(row: dict[str, Any]) -> list[str]:
    """The markers a gradebook cell must show, by the gradebook report's own columns."""
    said = f"{js_text(row.get('status'))} {js_text(row.get('grade_action'))}".lower()
    override = js_text(row.get("override")).lower()
    marks = []
    if "overrid" in said or row.get("source") == "override" or override.startswith("active"):
        marks.append("override")
    elif "clear" in f"{override} {said}":
        marks.append("cleared")
    if "delet" in said or (row.get("deleted_attempts") or 0) > 0:
        marks.append("deleted")
    if "needs" in said:
        marks.append("needs")
    return marks


def _course(dash: Dash) -> str:
    return str(dash.api("/api/reports/gradebook", limit=1)["rows"][0]["course_number"])


def test_course_page_gradebook_grid_and_cell_history(tab: Page, dash: Dash) -> None:
    course = _course(dash)
    page = tab.open(f"/dashboard/courses/{quote(course)}")
    rows = dash.api("/api/reports/gradebook", course=course, limit=10000)["rows"]
    assert rows
    cells = page.eval_on_selector_all(
        "#gradebook td.cell", "els => els.map(e => [e.dataset.user, e.dataset.item, e.querySelector('.score').textContent])"
    )
    assert sorted(map(tuple, cells)) == sorted((r["user_uuid"], r["gradable_item_pk"], js_text(r["score"])) for r in rows)
    marks = page.eval_on_selector_all(
        "#gradebook td.cell",
        "els => els.map(e => [e.dataset.user, e.dataset.item, [...e.querySelectorAll('.mark')].map(m => m.classList[1])])",
    )
    shown = {(u, i): m for u, i, m in marks}
    assert {(r["user_uuid"], r["gradable_item_pk"]): expected_marks(r) for r in rows} == shown
    # each item's heading ends where its cells' contents end, so that a score reads under its own item
    ragged = page.evaluate("""() => [...document.querySelectorAll('#gradebook thead th[data-item]')].filter(th => {
        const range = document.createRange();
        range.selectNodeContents(th);
        const text = range.getBoundingClientRect().right;
        return [...document.querySelectorAll(`#gradebook td.cell[data-item="${th.dataset.item}"]`)]
            .some(td => Math.abs(td.lastElementChild.getBoundingClientRect().right - text) > 12);
    }).map(th => th.dataset.item)""")
    assert ragged == []
    assert tab.table("#table-gradebook") == as_text(rows)
    assert tab.table("#table-funnel") == as_text(dash.api("/api/reports/funnel", course=course)["rows"])
    assert tab.table("#table-items") == as_text(dash.api("/api/reports/items", course=course)["rows"])
    for chart in ("funnel", "time", "difficulty", "heatmap"):
        assert page.locator(f"#chart-{chart} .main-svg").count() > 0, chart
    cell = rows[len(rows) // 2]
    assert page.locator("#history").is_hidden()
    page.click(f"#gradebook td.cell[data-user='{cell['user_uuid']}'][data-item='{cell['gradable_item_pk']}']")
    page.wait_for_selector("#history[data-loaded]")
    history = dash.api("/api/gradebook/history", course=course, user=cell["user_uuid"], item=cell["gradable_item_pk"])
    assert history["rows"]
    assert tab.table("#table-history") == as_text(history["rows"])
    tab.shot("course")


def test_student_page_timeline_and_grades(tab: Page, dash: Dash) -> None:
    user = dash.api("/api/reports/gradebook", limit=1)["rows"][0]["user_uuid"]
    page = tab.open(f"/dashboard/students/{quote(user)}")
    assert tab.table("#table-grades") == as_text(dash.api("/api/reports/gradebook", user=user)["rows"])
    events = dash.api("/api/events", user=user, limit=1000)["rows"]
    assert events
    assert tab.table("#table-events") == as_text(events)
    assert page.locator("#chart-timeline .main-svg").count() > 0
    # every event type's label is drawn whole, the longest too
    cut = page.evaluate("""() => {
        const box = document.getElementById('chart-timeline').getBoundingClientRect();
        return [...document.querySelectorAll('#chart-timeline .ytick text')]
            .filter(t => t.getBoundingClientRect().left < box.left).map(t => t.textContent);
    }""")
    assert page.locator("#chart-timeline .ytick text").count() > 1
    assert cut == []
    assert "user_external_id" not in page.inner_text("#table-events")  # a key without the identity right
    tab.shot("student")


def test_test_page_per_question_timings(tab: Page, dash: Dash) -> None:
    course = _course(dash)
    funnel = dash.api("/api/reports/funnel", course=course)["rows"]
    test = funnel[0]["assessment_pk"]
    page = tab.open(f"/dashboard/tests/{quote(test)}?course={quote(course)}")
    items = dash.api("/api/reports/items", course=course, test=test)["rows"]
    assert items
    assert tab.table("#table-questions") == as_text(items)
    assert page.locator("#chart-questions .main-svg").count() > 0
    tab.shot("test")


def test_sign_out_ends_the_session(chromium: Any, dash: Dash) -> None:
    page = Page(chromium, dash)
    try:
        page.sign_in(dash.keys["read"])
        page.open("/dashboard/")
        page.page.click("#sign-out")
        page.page.wait_for_load_state()
        assert page.page.url.endswith("/dashboard/sign-in")
        page.page.goto(dash.url + "/dashboard/")
        assert page.page.url.endswith("/dashboard/sign-in")
        assert page.errors == []
    finally:
        page.close()


@pytest.mark.postgres
def test_course_page_on_postgresql(chromium: Any, pg_dash: Dash) -> None:
    page = Page(chromium, pg_dash)
    try:
        page.sign_in(pg_dash.keys["read"])
        course = _course(pg_dash)
        page.open(f"/dashboard/courses/{quote(course)}")
        rows = pg_dash.api("/api/reports/gradebook", course=course, limit=10000)["rows"]
        assert page.table("#table-gradebook") == as_text(rows)
        page.page.click("#gradebook td.cell >> nth=0")
        page.page.wait_for_selector("#history[data-loaded]")
        assert page.table("#table-history")
        page.shot("course-postgresql")
        assert page.errors == []
    finally:
        page.close()
