"""`python -m pipelines.cli`: the `bertprep` command without the installed script."""
import sys

from pipelines.cli.main import main

sys.exit(main())
