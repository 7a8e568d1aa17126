"""A CA node at work: `serve`'s supervisor and its restart counts, the duty lease, readiness,
the sweeper of issuance a crash left unfinished (with the owner of an intent), the CA
home's permissions and the server's own TLS certificate."""
