"""Log setup for the worker and the CLI: loguru to stderr without variable values in tracebacks.

Loguru's default handler prints every local variable of a crashed frame, and a job's S3 secret or a
signed URL sits in some of them; `diagnose=False` keeps tracebacks to file, line and code.
"""

from __future__ import annotations

import sys

from loguru import logger


def configure(level: str = "INFO") -> None:
    logger.remove()
    logger.add(sys.stderr, level=level, diagnose=False, backtrace=False)
