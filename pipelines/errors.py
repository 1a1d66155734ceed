"""The error every command turns into one line on stderr and exit status 2."""


class UsageError(Exception):
    """Arguments or inputs that cannot work; the message says what to change."""
