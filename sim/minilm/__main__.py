import sys

from sim.minilm.run import main

sys.exit(main())
