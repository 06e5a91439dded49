"""Regenerate the Learn-shaped sample payload the package ships (``inspect --sample``).

A few events of every kind a simulated week of Learn produces: one Caliper 1.1 envelope as Learn
sends it today, and one 1.0 envelope of grade events as Learn sent them until 2019. Deterministic:
running it again gives the same bytes.

    python scripts/make_sample.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from caliper_stream.simulate.term import TermConfig, generate

OUT = Path(__file__).resolve().parents[1] / "src" / "caliper_stream" / "samples" / "learn-term-sample.json"
PER_KIND = 2
ACTION_NAME = re.compile(r'"bb:action\.name": "([^"]+)"')


def pick(version: str, grades_only: bool) -> list[dict[str, object]]:
    """The first ``PER_KIND`` events of each (type, action, bb:action.name) in a simulated week."""
    seen: dict[tuple[str, str, str], int] = {}
    events: list[dict[str, object]] = []
    for planned in generate(TermConfig(courses=2, students=8, days=12, seed=11, version=version)):
        event = planned.built.event
        if planned.duplicate or not isinstance(event, dict):
            continue
        kind = str(event.get("type") or event.get("@type"))
        if grades_only and not kind.endswith(("GradeEvent", "OutcomeEvent")):
            continue
        found = ACTION_NAME.search(json.dumps(event))  # the grade action sits in a nested entity
        key = (kind, str(event.get("action")), found.group(1) if found else "")
        if seen.get(key, 0) < PER_KIND:
            seen[key] = seen.get(key, 0) + 1
            events.append(event)
    return events


def envelope(version: str, data: list[dict[str, object]]) -> dict[str, object]:
    return {
        "sensor": "https://learn.example.edu/caliper/sample-sensor",
        "sendTime": "2026-01-19T07:00:00.000Z",
        "dataVersion": f"http://purl.imsglobal.org/ctx/caliper/v1p{version[-1]}",
        "data": data,
    }


def main() -> None:
    payload = [envelope("1.1", pick("1.1", grades_only=False)), envelope("1.0", pick("1.0", grades_only=True))]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{OUT}: {sum(len(e['data']) for e in payload)} events")  # type: ignore[arg-type,misc]


if __name__ == "__main__":
    main()
