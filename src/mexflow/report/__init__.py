"""Reports: metrics tables and figures."""
