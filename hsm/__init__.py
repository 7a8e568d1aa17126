"""Keys and signing: the backend interface, the software and PKCS#11 backends, and the
batching signing pipeline that is the only way anything in the CA gets signed."""
