"""The CA's rules: issuance, revocation, the registry, the command line and the web adapters."""
