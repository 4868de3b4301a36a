"""The module's variable validations hold the controller's own bounds: every limit and default
that variables.tf writes as a literal is compared with the JSON Schema generated from the
controller's configuration types (infra/config.schema.json, kept current by
core/tests/config_schema.rs). A bound changed in Rust fails here until the module follows."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from conftest import MODULE

SCHEMA: dict[str, Any] = json.loads((Path(__file__).resolve().parents[2] / "config.schema.json").read_text())
DEFS = SCHEMA["$defs"]
CIRCUIT = DEFS["RawCircuit"]["properties"]
TIMINGS = DEFS["Timings"]["properties"]
TIMING_DEFAULTS = CIRCUIT["timings"].get("default") or DEFS["Timings"]["default"]
VARIABLES = (Path(MODULE) / "variables.tf").read_text()


def literal(pattern: str) -> float:
    """The one number `pattern`'s group captures in variables.tf (every match must agree)."""
    found = {float(m) for m in re.findall(pattern, VARIABLES)}
    assert len(found) == 1, f"{pattern}: found {sorted(found)} in variables.tf"
    return found.pop()


def test_control_plane_rate() -> None:
    rate = SCHEMA["properties"]["control_plane_rate_per_sec"]
    assert literal(r"var\.control_plane_rate_per_sec >= (\d+)") == rate["minimum"]
    assert literal(r"var\.control_plane_rate_per_sec <= (\d+)") == rate["maximum"]


def test_levels() -> None:
    levels = DEFS["Levels"]["properties"]
    assert literal(r"coalesce\(c\.levels\.probe, (\d+)\) >= \d+") == levels["probe"]["default"]
    assert literal(r"coalesce\(c\.levels\.probe, \d+\) >= (\d+)") == levels["probe"]["minimum"]
    assert literal(r"coalesce\(c\.levels\.probe, \d+\) <= (\d+)") == levels["probe"]["maximum"]
    assert literal(r"c\.levels\.max <= (\d+)") == levels["max"]["maximum"]
    headroom = DEFS["ReservedConcurrency"]["oneOf"][0]["properties"]["headroom"]
    assert literal(r"c\.headroom <= (\d+)") == headroom["maximum"]


def test_timing_bounds() -> None:
    """variables.tf checks every *_secs timing with one range; each of the schema's must be it."""
    for field in (f for f in TIMINGS if f.endswith("_secs")):
        assert literal(r"v >= (\d+) && v <= \d+") == TIMINGS[field]["minimum"], field
        assert literal(r"v >= \d+ && v <= (\d+)") == TIMINGS[field]["maximum"], field


@pytest.mark.parametrize(
    "field",
    ["open_wait_secs", "open_wait_cap_secs", "healthy_dwell_secs", "min_dwell_secs", "probe_window_secs", "ramp_step_secs", "throttle_step_secs"],
)
def test_timing_defaults(field: str) -> None:
    found = {float(m) for m in re.findall(rf"coalesce\(c\.timings\.{field}, (\d+)\)", VARIABLES)}
    assert found <= {TIMING_DEFAULTS[field]}, f"{field}: variables.tf assumes {sorted(found)}, the controller {TIMING_DEFAULTS[field]}"


def test_alarms_per_circuit() -> None:
    assert literal(r"kind if c\.alarms\[kind\]\.enabled\]\) <= (\d+)") == CIRCUIT["alarms"]["maxItems"]
