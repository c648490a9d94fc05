"""``python -m redfire`` runs the CLI."""

from redfire.cli import main

main()
