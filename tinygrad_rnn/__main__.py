import sys

from tinygrad_rnn.cli import main

sys.exit(main())
