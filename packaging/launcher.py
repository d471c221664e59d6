"""Entry script of the PyInstaller bundle: the same as the ``cnnstudio`` command."""

import sys

from cnnstudio.cli import main

if __name__ == "__main__":
    sys.exit(main())
