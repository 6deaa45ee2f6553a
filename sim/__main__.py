import sys

from sim.units import main

sys.exit(main())
