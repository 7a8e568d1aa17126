"""Signature confirmation (S10, S11, U7, V1-V3): checking a signed document or a
certificate against this CA's registry and trust, and the cases an expert answers."""
