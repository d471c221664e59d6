"""The command line's own error: printed as one line on stderr with a non-zero exit."""


class CLIError(Exception):
    """A problem with what the user asked for; ``str(error)`` says what and what to do."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
