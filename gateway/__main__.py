"""`python -m gateway` is the `facegate` command."""

from gateway.cli import main

main()
