"""Risk models: the transparent default (`default`) and logistic models fitted to the store's own history
(`fitted`), both found through the `closer.risk_models` entry point group (see `MODELS.md`)."""
