"""Contract policies, eligibility and contact rules, the budget ledger, review queue and audit."""
