"""Every file loader and the architecture builder under mutated input (see harness.py).

The fast subset runs in ``make test``; ``make fuzz`` runs the long campaign."""

from __future__ import annotations

import pytest

from tests.fuzz.harness import campaign
from tests.fuzz.targets import all_targets, corpus, resolve_env_tries

TARGETS = all_targets()

#: Mutated tries per target in the fast subset (after the whole corpus), sized so the
#: subset takes about a minute of the two test workers.
FAST = {
    "data-csv": 100,
    "data-csv-gz": 60,
    "data-idx": 100,
    "data-folder": 60,
    "data-cifar": 80,
    "io-model": 60,
    "io-project": 40,
    "io-recovery": 40,
    "arch-file": 60,
    "arch-file-io": 40,
    "engine-network": 80,
    "model-graph": 60,
}


# Every try is bounded by its own timeout; a few hangs must not cut the summary short.
@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", list(FAST))
def test_fast(name, tmp_path):
    target = TARGETS[name]
    seeds = corpus(target, heavy=False)
    campaign(target, len(seeds) + FAST[name], tmp_path, "fast", seeds).assert_clean()


@pytest.mark.fuzz
@pytest.mark.timeout(0)
@pytest.mark.parametrize("name", list(FAST))
def test_campaign(name, tmp_path):
    target = TARGETS[name]
    seeds = corpus(target, heavy=True)
    tries = len(seeds) + resolve_env_tries(1500)
    campaign(target, tries, tmp_path, "campaign", seeds).assert_clean()
