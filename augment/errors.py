"""The one exception type that reaches users as a single line instead of a traceback."""


class AugmentError(Exception):
    """Bad input or an unusable environment: the CLI prints the message alone and exits 2.

    Raise it *before* writing anything, so a refused command leaves data untouched.
    """
