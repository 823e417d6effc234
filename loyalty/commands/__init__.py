"""One module per command group; each imports our packages and heavy libraries in the command."""
