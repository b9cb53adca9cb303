"""Allow `python -m mnist_helpers`."""

import sys

from mnist_helpers.cli import main

sys.exit(main())
