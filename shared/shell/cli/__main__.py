"""``python -m leadrelay.shared.shell.cli``: the ``leadrelay`` command."""

import sys

from leadrelay.shared.shell.cli import app

if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
