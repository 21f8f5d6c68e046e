"""Safe retries: a write sent with `Idempotency-Key` is done once, and its answer replayed to every
repeat (draft-ietf-httpapi-idempotency-key-header). Skip this folder on a first read.

- keys.py   the idempotency_keys table, its statements, and the removal of expired keys
- once.py   the Idempotency-Key header: a write done once, its answer kept with it, replayed
"""
