"""Photos: reading and re-encoding them (images), and where they are kept (storage)."""
