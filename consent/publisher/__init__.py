"""The consent-gated push publisher: changes to shared care plans, allergies and DNAR alerts go to the
downstream systems a patient's Consent permits; a withdrawn Consent retracts them. See PUBLISHER.md.

- `settings`: the TOML settings file and the Registration of a downstream system.
- `endpoints`: registrations kept as FHIR Endpoint resources in the store.
- `tables`: the cursor, the delivery queue (with dead letters) and what each endpoint holds.
- `cursor`: the outbox low-water mark and its gaps (pure).
- `plan`: what one endpoint should get about one resource (pure).
- `planner`: outbox events in, deliveries out (single-writer); the sweep for lapsed Consent periods.
- `payload`: the HTTP request for a delivery, per mode (pure).
- `signing`: the server key and the detached JWS.
- `retry`: what an answer means, and the backoff (pure).
- `sender`: claim, send, audit, settle.
- `worker`: the `closer publish run` loop.
- `queue`: dead letters, retry and status.
- `cli`, `web`: the `closer publish` commands and the JWKS endpoint.
"""
