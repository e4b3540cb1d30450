"""Hospital batch extracts (SUS APC-style admitted patient care, ECDS-style A&E attendances) -> FHIR R4.

`apc` and `ecds` map one CSV row to the resources it stands for without touching the store; `loader`
is the one place that reads the CSV and writes each row in its own transaction; `cli` wires both into
`closer ingest apc|ecds`.
"""
