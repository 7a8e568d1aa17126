"""A certificate profile for signing documents, without the RA's registered subscriber, for
the tests of signature confirmation (server/confirmation/)."""

DOCUMENT_SIGNER_PROFILE = """
[profiles.document-signer]
description = "document signing (test)"
requires_registered_subscriber = false
validity_days = 30
key_algorithms = ["ec-p256", "rsa-2048"]
key_usage = ["digital_signature", "non_repudiation"]
extended_key_usage = ["email_protection"]
subject_attributes = ["CN"]
required_attributes = ["CN"]
"""
