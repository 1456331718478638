"""Errors the domain raises for bad input, each carrying one sentence a person can act on."""


class AisleError(Exception):
    """A failure caused by input or environment, reported to the user without a stack trace."""


class DataFileError(AisleError):
    """A data file is missing, unreadable or holds a malformed record."""


class DatabaseUnavailableError(AisleError):
    """The configured database cannot be reached."""


class NotFoundError(AisleError):
    """A requested record does not exist."""
