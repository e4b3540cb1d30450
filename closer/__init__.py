"""Closer: a FHIR R4 integration server for proactive case management."""

__version__ = "0.1.0"
