"""The exceptions `tuner` raises on purpose, and the exit statuses of the CLI, which maps every
`TunerError` to `EXIT_USAGE`."""

EXIT_USAGE = 2  # bad config, data, storage or command line
EXIT_FAILURE = 1  # anything unexpected
EXIT_INTERRUPTED = 130  # Ctrl-C


class TunerError(Exception):
    """A problem the user can fix: the message names what is wrong and where."""


class ConfigError(TunerError):
    """A config file, key or value is invalid."""


class DataError(TunerError):
    """A data file is missing, malformed or too short."""


class StorageError(TunerError):
    """A storage URL is invalid, unreachable or holds an incompatible study."""


class ModelDirError(TunerError):
    """A model directory is missing, incomplete, from another format or tampered with."""


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message says when. A failed trial, not a user error."""
