import sys

from dnn.cli import main

sys.exit(main())
