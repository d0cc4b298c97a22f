"""One exception type for bad input; the CLI turns it into one line on stderr and exit code 2."""


class ReachError(Exception):
    """A problem with the user's input (names, parameters, folders, suite files), stated with its fix."""
