"""The one-sided 95 % bounds of shares and rates, against their closed forms."""

from __future__ import annotations

import math

import pytest

from batteryops.core import bounds


def test_all_successes_bound_is_the_closed_form() -> None:
    # k = n: the Clopper-Pearson lower bound is 0.05 ** (1 / n).
    for n in (1, 8, 20, 59):
        assert bounds.share_lower(n, n) == pytest.approx(0.05 ** (1 / n))
    assert bounds.share_lower(8, 8) == pytest.approx(0.688, abs=1e-3)


def test_no_event_rate_bound_is_the_closed_form() -> None:
    # k = 0: the exact Poisson upper bound is -ln(0.05) / exposure.
    assert bounds.rate_upper(0, 107.5) == pytest.approx(-math.log(0.05) / 107.5)
    assert bounds.rate_upper(0, 107.5) == pytest.approx(0.0279, abs=1e-4)
    assert bounds.exposure_for_rate(0.01) == pytest.approx(299.6, abs=0.1)


def test_bounds_bracket_the_point_value() -> None:
    for k, n in ((0, 10), (3, 10), (7, 8), (10, 10)):
        assert bounds.share_lower(k, n) <= k / n
    for k, exposure in ((0, 5.0), (1, 5.0), (40, 5.0)):
        assert bounds.rate_upper(k, exposure) > k / exposure
    assert bounds.rate_upper(1, 10.0) > bounds.rate_upper(0, 10.0)


def test_nothing_observed_bounds_nothing() -> None:
    assert math.isnan(bounds.share_lower(0, 0))
    assert math.isnan(bounds.rate_upper(0, 0.0))
    assert bounds.share_lower(0, 5) == 0.0


@pytest.mark.parametrize(("k", "n"), [(-1, 5), (6, 5)])
def test_impossible_counts_are_refused(k: int, n: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        bounds.share_lower(k, n)
