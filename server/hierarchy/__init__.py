"""A root CA kept in the home above the issuing CA, its key used only offline."""
