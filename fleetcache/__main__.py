"""Entry point for ``python -m fleetcache``."""

import sys

from fleetcache.cli import main

sys.exit(main())
