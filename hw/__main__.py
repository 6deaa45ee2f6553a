import sys

from hw.gen import main

sys.exit(main())
