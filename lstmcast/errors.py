"""Typed errors of the core. Only the CLI turns them into exit codes and one line on stderr."""


class LstmcastError(Exception):
    """Base class: a problem the user can fix; the message says what and how."""


class DataError(LstmcastError):
    """The input series is unusable as given (exit code 3)."""


class MissingColumn(DataError):
    """The data has no column of the name a setting gives (`column`)."""

    def __init__(self, message: str, column: str, columns: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.column = column
        self.columns = columns  # the columns the data has


class ConfigError(LstmcastError):
    """An option or a combination of options is invalid (exit code 2)."""


class CheckpointError(LstmcastError):
    """A model file is missing, corrupt, foreign or incompatible (exit code 4)."""


class DistributedError(LstmcastError):
    """Another process of a distributed job stopped or cannot be reached (exit code 1)."""


class MainRankFailed(DistributedError):
    """On a rank > 0: rank 0 failed and reports why itself; this rank stops without a line of its own, with the exit
    status of rank 0's error (`kind`), so the job's status is the same whichever rank a launcher sees end first."""

    def __init__(self, message: str, kind: type[LstmcastError]) -> None:
        super().__init__(message)
        self.kind = kind
