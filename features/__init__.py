"""The canonical event schema, its readers and validation; point-in-time features and labels."""
