"""`python -m edgeq` = the `edgeq` command."""

from edgeq.cli import main

main()
