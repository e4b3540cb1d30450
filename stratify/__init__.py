"""Risk stratification: who among the registered 65+ is at risk of emergency admission, how severe,
and what their GP and MDT decided (programme report, Appendix B)."""
