"""adapters package (filled in by later issues)."""
