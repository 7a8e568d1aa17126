"""`python -m server <command>`: the operator's command line. `main.py` parses the arguments;
`commands.py` and the modules named after an area do the work."""
