"""`python -m workers`: the same as `linli worker`."""

import sys

from api.cli import main

sys.exit(main(["worker"]))
