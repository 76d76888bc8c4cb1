"""The one error hierarchy of robotok_ros: every user-facing failure is a RobotokError."""


class RobotokError(Exception):
    """Base class of every error robotok_ros raises on purpose."""


class ConfigError(RobotokError, ValueError):
    """A profile, parameter or settings value is missing, unknown or out of range."""


class InvalidTokenError(RobotokError, ValueError):
    """A token id, token sequence or action array cannot be encoded or decoded."""


class DataError(RobotokError, ValueError):
    """A recorded dataset file cannot be read as action episodes."""


class TokenizerStateError(RobotokError, ValueError):
    """A saved tokenizer file is missing, tampered with or does not match its config."""


class DiskError(DataError):
    """Writing a file failed in the operating system: disk full, file too large, I/O error."""
