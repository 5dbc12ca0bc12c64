"""`python -m course_lib.agents worker ...`: see `course_lib.agents.worker`."""

import sys

from ..i18n import tr

try:
    from .worker import main

    sys.exit(main())
except KeyboardInterrupt:  # Ctrl-C before the worker's own handler is in place
    print(tr("worker 已中断"), file=sys.stderr)
    sys.exit(130)
