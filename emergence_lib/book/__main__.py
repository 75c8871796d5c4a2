"""``python -m emergence_lib.book``: execute chapters, build the site, write student copies."""

import sys

from .executor import main

sys.exit(main())
