"""collector.runtime: the interpreter settings the long-running processes apply."""

from __future__ import annotations

import json
import subprocess
import sys

from helpers import ROOT

PROBE = """
import gc, json, sys
from collector.runtime import {function}
before = (gc.get_threshold(), sys.getswitchinterval(), gc.get_freeze_count())
{function}()
after = (gc.get_threshold(), sys.getswitchinterval(), gc.get_freeze_count())
print(json.dumps([before, after]))
"""


def _probe(function: str) -> tuple[list, list]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(function=function)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    before, after = json.loads(done.stdout)
    return before, after


def test_stream_workers_collect_less_often_hand_off_sooner_and_freeze_start_up():
    (thresholds, interval, frozen), (tuned, tuned_interval, tuned_frozen) = _probe(
        "tune_for_stream_workers"
    )
    assert tuned[0] > thresholds[0] and tuned[1:] == thresholds[1:]
    assert tuned_interval < interval
    assert tuned_frozen > frozen  # the modules, schemas and patterns loaded so far


def test_api_workers_keep_the_switch_interval():
    (thresholds, interval, _), (tuned, tuned_interval, _) = _probe("tune_gc")
    assert tuned[0] > thresholds[0]
    assert tuned_interval == interval
