import sys

from eval.minilm.run import main

sys.exit(main())
