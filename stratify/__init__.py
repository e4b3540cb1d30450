"""stratify package (filled in by later issues)."""
