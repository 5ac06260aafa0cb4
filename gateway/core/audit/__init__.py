"""The audit stream's core: one record per decision, hash-chained per partition."""
