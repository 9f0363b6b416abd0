"""Entry-point helper for rule scripts: log to the rule's log file, turn PipelineError into exit 1,
remove what a killed earlier run of the same job left beside its outputs."""
from __future__ import annotations

import logging
import sys
import traceback
from contextlib import contextmanager

from .io import PipelineError, remove_stale_temporaries


@contextmanager
def rule_logging(log_path: str | None, outputs=()):
    """Send logging (and stderr) of a rule script to ``log_path``; exit 1 with a clear message on error.

    ``outputs`` (the rule's ``snakemake.output``): the atomic-write temporaries of these paths that a killed
    run left (``.<name>.<random>.tmp``) are removed first; other jobs' temporaries are not touched.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        handlers=handlers, force=True)
    for out in outputs:
        for stale in remove_stale_temporaries(out):
            logging.getLogger("rule").info("removed %s, left by an interrupted run", stale)
    try:
        yield logging.getLogger("rule")
    except PipelineError as exc:
        logging.getLogger("rule").error("ERROR: %s", exc)
        sys.exit(1)
    except Exception:
        logging.getLogger("rule").error("unexpected failure:\n%s", traceback.format_exc())
        raise
