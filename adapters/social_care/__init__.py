"""The local-authority adult social care feed: an XML extract (people, assessments, services and care
packages, unpaid carers) validated against our XSD, matched to Patients conservatively and mapped to FHIR.
See MAPPING.md."""
