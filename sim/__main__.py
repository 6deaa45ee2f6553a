import sys

from sim.driver import main

sys.exit(main())
