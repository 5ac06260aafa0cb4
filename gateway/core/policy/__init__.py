"""Policy: the rule catalogue, jurisdiction packs, tenant policies and the decision for one capture."""
