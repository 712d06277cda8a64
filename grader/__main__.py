"""``python -m grader``: the instructor command line (see ``grader.cli``)."""
import sys

from .cli import main

sys.exit(main())
