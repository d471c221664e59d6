"""What the command-line tests check of a failed command's output: one line on stderr."""

from __future__ import annotations


def one_line_error(capsys, *fragments: str) -> str:
    """The single stderr line of a command that failed (nothing on stdout), checked to
    contain every fragment."""
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]
