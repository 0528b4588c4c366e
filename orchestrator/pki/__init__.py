"""PKI: pure issuance (issue), files on disk (store), load-or-generate (manager), reading back (inspect)."""
