"""The `advisor` command line: thin adapters over the library."""
