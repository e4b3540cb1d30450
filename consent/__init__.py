"""Consent: share with ambulance and A&E systems only what the patient's Consents permit.

`consent.model` reads FHIR R4 Consent resources defensively, `consent.engine` decides (a HAPI-style chain
of consent services whose default is deny) and `consent.check` renders a decision as the Parameters of
`$consent-check`. All three are pure: no Flask, no SQL, no IO, so the guarded repository, the alerts API
and the publisher can all ask the same engine. The rules, with examples, are in consent/CONSENT.md.
"""
