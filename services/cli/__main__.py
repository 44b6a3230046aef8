"""``python -m services.cli``: the ``motcua`` command."""

import sys

from services.cli import main

sys.exit(main())
