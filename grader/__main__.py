"""``python -m grader``: the instructor command line (see ``grader.pipeline.cli``)."""
import sys

from .pipeline.cli import main

sys.exit(main())
