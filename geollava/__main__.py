"""`python -m geollava COMMAND ...`: the same as the `geollava` command."""
import sys

from .cli import main

sys.exit(main())
