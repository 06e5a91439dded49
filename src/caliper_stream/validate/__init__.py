"""Validation of decoded events: lenient (tolerated deviations as warnings) or strict (conformance).

``validate(event, strict=…)`` lists every problem of one event; ``validate_items`` validates a
whole input into a `Report`. The rules are tables in `caliper_stream.validate.rules`.
"""

from __future__ import annotations

from caliper_stream.validate.report import Report, validate_items
from caliper_stream.validate.validation import spec_version, validate

__all__ = ["Report", "spec_version", "validate", "validate_items"]
