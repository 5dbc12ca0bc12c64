"""`python -m course_lib.agents worker ...`: see `course_lib.agents.worker`."""

import sys

from .worker import main

sys.exit(main())
