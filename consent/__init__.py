"""consent package (filled in by later issues)."""
