import sys

from retrainctl.cli import main

sys.exit(main())
