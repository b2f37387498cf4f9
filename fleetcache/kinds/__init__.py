"""Cache kinds: one module per tool whose caches fleetcache finds, measures and cleans (base.py
says what each supplies; all.py is the one registry). Adding a kind: one module, its tests, one
line in all.py."""
