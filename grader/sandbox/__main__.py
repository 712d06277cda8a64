"""``python -m grader.sandbox check``: report what grading kernels could read or change."""
import sys

from . import main

sys.exit(main())
