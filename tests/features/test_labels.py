"""Labels: definition shared with the synthetic generator, causal windows, masking."""

from __future__ import annotations

import numpy as np

from quantjax.data.synth_market import direction_labels
from quantjax.features.labels import DOWN, FLAT, UP, make_labels


def _prices(S=3, T=400, seed=0):
    rng = np.random.default_rng(seed)
    return 100 * np.exp(np.cumsum(rng.normal(0, 2e-4, (S, T)), axis=1))


def test_direction_matches_generator_definition():
    p = _prices()
    k, alpha = 5, 1e-4
    lab = make_labels(p, np.ones(p.shape, bool), k, alpha)
    gen, gen_valid = direction_labels(p, k, alpha)  # -1/0/1
    np.testing.assert_array_equal(lab.label_valid, gen_valid)
    mapped = np.select([gen == -1, gen == 0, gen == 1], [DOWN, FLAT, UP])
    np.testing.assert_array_equal(lab.direction[gen_valid], mapped[gen_valid])
    assert set(np.unique(lab.direction[lab.label_valid])) == {DOWN, FLAT, UP}


def test_values_and_masks():
    p = _prices(S=1, T=50)
    present = np.ones(p.shape, bool)
    present[0, 20] = False
    p[0, 20] = np.nan
    k = 3
    lab = make_labels(p, present, k, 0.0)
    t = 5
    np.testing.assert_allclose(lab.future_return[0, t], p[0, t + k] / p[0, t] - 1, rtol=1e-6)
    r = p[0, t + 1 : t + k + 1] / p[0, t : t + k] - 1
    np.testing.assert_allclose(lab.future_vol[0, t], np.sqrt(np.mean(r**2)), rtol=1e-6)
    np.testing.assert_allclose(lab.past_return[0, 10], p[0, 10] / p[0, 10 - k] - 1, rtol=1e-6)
    # labels over the gap and past the end are masked and zero
    assert not lab.label_valid[0, 17:21].any() and lab.label_valid[0, 16]
    assert not lab.label_valid[0, -k:].any()
    assert (lab.future_return[~lab.label_valid] == 0).all()
    assert (lab.direction[~lab.label_valid] == 0).all()


def test_label_uses_only_future_window():
    p = _prices(S=1, T=60)
    k = 4
    a = make_labels(p, np.ones(p.shape, bool), k, 1e-4)
    q = p.copy()
    q[0, 30 + k + 1 :] *= 1.5  # beyond (t, t+k] of t = 30
    q[0, :30] *= 0.5  # before t
    b = make_labels(q, np.ones(q.shape, bool), k, 1e-4)
    assert a.direction[0, 30] == b.direction[0, 30]
    assert a.future_return[0, 30] == b.future_return[0, 30]
