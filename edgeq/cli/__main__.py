"""`python -m edgeq.cli` (what the tests run), the same as `edgeq`."""

from edgeq.cli import main

main()
