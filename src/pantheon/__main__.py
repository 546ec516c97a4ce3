import sys

from pantheon.cli import main

sys.exit(main())
