"""The registration authority: subscribers, applications and their due dates in working
days, the state-register check, and the rule that personal identifiers are issued only
through it."""
