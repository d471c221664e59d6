"""The fuzz suite: every loader, the architecture builder and the command line under
mutated input, each try in a child process with a memory cap and a timeout.

``make test`` runs a bounded, seeded fast subset (test_*_fast); ``make fuzz`` runs the long
campaign (marker ``fuzz``, ``FUZZ_TRIES`` tries per target, default 1500) and prints the
summary table. ``python -m tests.fuzz summary`` prints the last results again and
``python -m tests.fuzz replay TARGET TRY`` re-runs one try and shows what happened.
"""
