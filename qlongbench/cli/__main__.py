"""`python -m qlongbench.cli ...`: the command line (the same as the `qlongbench` script)."""

import sys

from qlongbench.cli import main

sys.exit(main())
