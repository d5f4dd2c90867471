"""Errors in what the user gave (audio files, corpus metadata, config): reported as one line, no traceback.

The message names the file (and line) or the config key, says what is wrong and what to do.
``logs.job_log`` prints such an error once and exits non-zero; any other exception is a bug and keeps
its traceback.
"""


class InputError(Exception):
    """Bad input that the user can fix (not a bug in the workflow)."""
