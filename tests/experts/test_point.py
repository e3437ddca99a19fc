"""vMF kernel mixtures: negligible components do not cap a sharp peak; per-centre weights may omit any scale."""

from __future__ import annotations

import numpy as np
import pytest

from geolocate.experts.point import kernel_log_density
from geolocate.grid import latlon_to_xyz


def _at(lat, lon):
    return latlon_to_xyz(np.atleast_1d(np.asarray(lat, float)), np.atleast_1d(np.asarray(lon, float)))


def test_a_vanishing_broad_component_leaves_the_peak_of_the_narrow_one():
    centre = _at(48.85, 2.35)
    pts = _at([48.85, 48.85 + 0.05], [2.35, 2.35])  # the centre and ~5.6 km north
    sharp = kernel_log_density(pts, None, centre, np.array([1.0]), np.array([1.0]))
    mixed = kernel_log_density(pts, None, centre, np.array([1.0, 2500.0]), np.array([1.0, 1e-307]))
    np.testing.assert_allclose(mixed, sharp, rtol=1e-9)  # was capped at e^80 over the broad kernel: a plateau
    assert mixed[0, 0] - mixed[0, 1] > 10  # a peak, not a plateau


def test_per_centre_weights_may_omit_the_broadest_scale():
    centres = _at([48.85, 35.68], [2.35, 139.69])
    pts = _at([48.85, 35.68], [2.35, 139.69])
    w = np.array([[1.0, 0.0], [0.5, 0.5]])  # the first centre has no 2,500 km component
    out = kernel_log_density(pts, None, centres, np.array([20.0, 2500.0]), w)
    alone = kernel_log_density(pts, None, centres[:1], np.array([20.0]), np.array([1.0]))
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[0], alone[0], rtol=1e-9)
    assert out[1, 1] == pytest.approx(np.logaddexp(np.log(0.5) + kernel_log_density(pts[1:], None, centres[1:], np.array([20.0]), np.array([1.0]))[0, 0],
                                                   np.log(0.5) + kernel_log_density(pts[1:], None, centres[1:], np.array([2500.0]), np.array([1.0]))[0, 0]), rel=1e-6)
