"""``python -m tests.fuzz summary [--mode fast|campaign] [--since UNIX_TIME]`` prints the
saved results;
``python -m tests.fuzz replay TARGET TRY [--campaign]`` re-runs one try and prints its
outcome, input and traceback (the input is left in a temporary folder)."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from tests.fuzz.harness import SUMMARY_DIR, run_try, sample_for, summary


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz")
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("summary")
    s.add_argument("--mode", choices=["fast", "campaign"])
    s.add_argument("--dir", type=Path, default=SUMMARY_DIR)
    s.add_argument(
        "--since", type=float, default=0.0, help="only rows written after this Unix time"
    )
    r = sub.add_parser("replay")
    r.add_argument("target")
    r.add_argument("index", type=int)
    r.add_argument(
        "--campaign", action="store_true", help="the campaign's corpus (with heavy inputs)"
    )
    args = parser.parse_args()
    if args.cmd == "summary":
        print(summary(args.dir, args.mode, args.since))
        return 0
    from tests.fuzz.cli_target import cli_target
    from tests.fuzz.targets import all_targets, corpus

    targets = {**all_targets(), "cli": cli_target()}
    target = targets[args.target]
    sample = sample_for(target, corpus(target, heavy=args.campaign), args.index)
    print(sample.manifest())
    folder = Path(tempfile.mkdtemp(prefix=f"fuzz-{args.target}-{args.index}-"))
    sample.write(folder)
    print(f"input written to {folder}")
    with tempfile.TemporaryDirectory(prefix="fuzz-work-") as work:
        outcome = run_try(target, sample, Path(work) / "try")
    print(f"outcome: {outcome.kind} {outcome.error}\nmessage: {outcome.message}")
    print(f"problems: {outcome.problems}\npeak: {outcome.peak >> 20} MB, {outcome.seconds:.2f} s")
    if outcome.detail:
        print(outcome.detail)
    return 1 if outcome.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
