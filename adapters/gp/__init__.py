"""GP feeds: a practice's CSV extract (`closer ingest gp-csv DIR`) and a GP Connect Access Record Structured
response (`closer ingest gp-connect FILE.json`). See FEEDS.md for the layouts, the STU3 -> R4 translation
and the re-ingest rule."""
