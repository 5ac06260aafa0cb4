"""For camera vendors and tenants' systems: a producer that speaks the contract, and a simulator."""
