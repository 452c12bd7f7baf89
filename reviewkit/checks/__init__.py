"""Rule checks, one module per group of rules; each binds a manifest with @check."""
