"""``python -m xlm``: the same as the `xlm` console script."""

import sys

from xlm.cli import main

sys.exit(main())
