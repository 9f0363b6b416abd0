"""Small helpers shared by both branches: atomic output, errors, provenance."""
