-- The process that owns an open intent (a `certificates` row in state 'intent') is recorded
-- on the intent itself, and cleared when its certificate is recorded. An intent that holds
-- nothing (no credential, no application, no CMP transaction) so writes no intent_holds row
-- at all; the row is written only for what an intent holds. An intent settled meanwhile is
-- told by its own row, deleted together with its holds (server/registry/intent_store.py).
-- intent_holds.owner stays, written as before for an intent that holds something: an intent
-- recorded before this migration, or by a node of an earlier version sharing the registry,
-- has its owner there only (the sweeper reads either).
ALTER TABLE certificates ADD COLUMN intent_owner TEXT;
