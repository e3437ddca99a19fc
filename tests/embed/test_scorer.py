"""The scorer on a micro-batch whose photos were all bad: empty columns of the right widths, no model call."""

from __future__ import annotations

import torch


def test_an_empty_batch_gives_empty_columns(scorer):
    out = scorer.score(torch.zeros((0, 3, 224, 224), dtype=torch.uint8))
    assert set(out) == set(scorer.columns())
    for name, (dtype, width) in scorer.columns().items():
        assert out[name].shape == (0, width) and out[name].dtype.name == dtype, name
