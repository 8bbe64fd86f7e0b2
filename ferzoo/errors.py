"""The errors ferzoo expects: a user can act on each one from its message alone.

Every layer raises them (this module imports nothing of ferzoo), and the command line
turns each into ``ferzoo COMMAND: error: MESSAGE`` with exit status 2 and no traceback
(``ferzoo --debug`` shows it). They are ``ValueError``\\ s, so code that caught a
``ValueError`` before still catches them. Anything else is a bug and keeps its traceback.

    FerzooError
      UsageError        a bad argument or setting: names it and what it accepts
      DataError         input data that cannot be used: names the file and record
      RunFolderError    a run folder that is busy, incomplete or holds another run
      WeightsError      a file that is not a model/weights file, or another model's
"""

from __future__ import annotations


class FerzooError(ValueError):
    """An expected failure; the message names the argument, file or record at fault."""


class UsageError(FerzooError):
    """A command-line argument or setting with a value ferzoo cannot take."""


class DataError(FerzooError):
    """Input data that the pipeline cannot use; the message names the file or record."""


class RunFolderError(FerzooError):
    """A run folder in use by another process, incomplete, or holding another run."""


class WeightsError(FerzooError):
    """A file that is not a Keras model/weights file, or that holds another model."""
