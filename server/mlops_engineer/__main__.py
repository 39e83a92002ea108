import sys

from mlops_engineer.cli import main

sys.exit(main())
