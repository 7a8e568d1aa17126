"""Backing a CA home up into one archive and restoring it into a new home, and the proof,
shared with `registry copy`, that a copied registry is whole."""
