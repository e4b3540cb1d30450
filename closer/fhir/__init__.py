"""FHIR models, parsing, outcomes and bundles: the only place that imports fhir.resources."""
