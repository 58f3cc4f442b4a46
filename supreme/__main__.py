"""``python -m supreme`` runs the CLI."""

import sys

from supreme.cli import main

sys.exit(main())
