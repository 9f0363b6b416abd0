"""Entry-point helper for rule scripts: log to the rule's log file, turn PipelineError into exit 1."""
from __future__ import annotations

import logging
import sys
import traceback
from contextlib import contextmanager

from .io import PipelineError


@contextmanager
def rule_logging(log_path: str | None):
    """Send logging (and stderr) of a rule script to ``log_path``; exit 1 with a clear message on error."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        handlers=handlers, force=True)
    try:
        yield logging.getLogger("rule")
    except PipelineError as exc:
        logging.getLogger("rule").error("ERROR: %s", exc)
        sys.exit(1)
    except Exception:
        logging.getLogger("rule").error("unexpected failure:\n%s", traceback.format_exc())
        raise
