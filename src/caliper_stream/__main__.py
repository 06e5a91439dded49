"""``python -m caliper_stream`` runs the command-line interface."""

from caliper_stream.cli import main

main()
