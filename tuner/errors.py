"""The exceptions `tuner` raises on purpose. The CLI maps every `TunerError` to exit status 2."""


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
