"""Logging for stages: what is happening, and how long it took."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(log_file: str | Path | None = None, *, level: int = logging.INFO) -> None:
    """Log to stderr and, when given, to ``log_file`` (the rule's ``log:``)."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(level=level, format=FORMAT, handlers=handlers, force=True)
    for noisy in ("httpx", "urllib3", "filelock", "fsspec", "datasets", "huggingface_hub"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextlib.contextmanager
def timed(what: str, logger: logging.Logger | None = None) -> Iterator[dict[str, float]]:
    """Log the start and the duration of a block; yields a dict that receives ``seconds``."""
    logger = logger or logging.getLogger("analysis")
    logger.info("%s ...", what)
    record: dict[str, float] = {}
    start = time.perf_counter()
    try:
        yield record
    finally:
        record["seconds"] = time.perf_counter() - start
        logger.info("%s done in %.1f s", what, record["seconds"])
