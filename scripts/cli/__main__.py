"""``python -m scripts.cli``: the same as the ``adstream`` command."""
import sys

from scripts.cli import main

sys.exit(main())
