"""What a guard around one file, one batch or one detector catches and turns into a problem line.

polars reports an internal error as `PanicException`, which derives from BaseException, not
Exception: an `except Exception` guard would let one hostile input end the whole analysis.
"""

from __future__ import annotations

from polars.exceptions import PanicException

RECOVERABLE: tuple[type[BaseException], ...] = (Exception, PanicException)
