"""The project's tests, a regular package: a dependency (gostcrypto) installs a top-level
`tests` package of its own into site-packages, which would otherwise shadow this one
outside pytest (the loadtests import tests.local_ca and others)."""
