"""``python -m localdev.host``: see ``localdev.host.cli``."""

import sys

from localdev.host.cli import main

sys.exit(main())
