"""Every fast layer's gradients in float64, through the reference tier.

Each fast layer's output, input gradient and parameter gradients equal its reference
twin's to rounding (1e-10) over the shapes of the engine contract (non-square kernels,
strides > 1, padding, odd sizes, batches > 1); test_reference.py checks the same
reference layers on the same shapes against central differences. Together: every fast
layer is gradient-checked in float64, without running central differences twice.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.naive import to_float64
from tests.engine.test_reference import GRAD_CASES, assert_matches_reference, built_fast, inputs


@pytest.mark.parametrize(("case", "training"), GRAD_CASES)
def test_fast_gradients_equal_the_reference_in_float64(case, training):
    fast = to_float64(built_fast(*case))
    assert_matches_reference(fast, inputs(case, 3), training=training)
    if case[0] == "Dense":  # one image: the fast weight gradient is an outer product
        assert_matches_reference(fast, inputs(case, 1), training=training)


def test_dropout_in_float64_keeps_the_float32_mask_of_the_same_generator():
    # The fast layer draws its mask in float32 whatever the input's dtype; so does the
    # reference, or the two tiers would drop different values in a float64 check.
    fast = to_float64(built_fast("Dropout", {"rate": 0.5}, (3, 4, 4)))
    y = assert_matches_reference(fast, np.ones((2, 3, 4, 4)))
    assert y.dtype == np.float64 and 0 < np.count_nonzero(y) < y.size
