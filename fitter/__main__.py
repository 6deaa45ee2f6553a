import sys

from fitter.cli import main

sys.exit(main())
