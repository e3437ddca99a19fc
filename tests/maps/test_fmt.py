"""Numbers for people (geolocate.maps.fmt): probabilities, areas, significant digits."""

from __future__ import annotations

import json

import numpy as np
import pytest

from geolocate.maps import fmt


def test_format_prob_never_says_zero_for_a_positive_value():
    assert [fmt.format_prob(p) for p in (0.5, 0.0234, 3.1e-4, 2e-9, 0.0)] == ["50%", "2.3%", "0.031%", "< 0.0001%", "0%"]


def test_sig_rounding_is_short_and_exact():
    vals = fmt.sig(np.array([3.14159e-6, 0.000101, 32.41, 12345.6, 0.0]))
    assert vals == [3.14e-06, 0.000101, 32.4, 12300.0, 0.0]
    assert json.dumps(vals) == "[3.14e-06, 0.000101, 32.4, 12300.0, 0.0]"


def test_format_km2_and_disc_radius():
    assert [fmt.format_km2(a) for a in (3.2e6, 2500.0, 12.34, 0.5)] == ["3.2 M km²", "2,500 km²", "12.3 km²", "0.5 km²"]
    assert fmt.disc_radius_km(np.pi * 56.0**2) == pytest.approx(56.0)
