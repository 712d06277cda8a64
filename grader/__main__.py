"""``python -m grader``: the instructor command line (see ``grader.pipeline.cli``)."""
import os
import sys

from .pipeline.cli import EXIT_INTERRUPTED, main

code = main()
if code == EXIT_INTERRUPTED:
    # Ctrl-C: everything the run started is stopped and cleaned up already; skip the interpreter's
    # teardown of every loaded module (seconds of CPU on a busy machine) so the prompt is back at once.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
sys.exit(code)
