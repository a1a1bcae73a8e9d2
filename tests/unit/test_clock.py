"""The product's clock: the system clock, or (chaos runs only) the system clock shifted."""

from __future__ import annotations

from datetime import UTC, timedelta

from leadrelay.shared.clock import offset_clock, system_clock
from leadrelay.shared.settings import Settings
from leadrelay.shared.shell.cli.run import product_clock


def test_an_offset_clock_reads_the_system_clock_shifted_by_its_offset():
    hour = timedelta(hours=1)
    before = system_clock()
    shifted = offset_clock(3600)()
    after = system_clock()
    assert before + hour <= shifted <= after + hour
    assert shifted.tzinfo is UTC


def test_the_composition_root_shifts_the_clock_only_when_the_setting_asks():
    assert product_clock(Settings()) is system_clock
    before = system_clock()
    shifted = product_clock(Settings(clock_offset_s=-90))()
    assert shifted <= before - timedelta(seconds=90) + (system_clock() - before)
    assert shifted >= before - timedelta(seconds=90)
