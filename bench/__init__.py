"""`make bench`: load tests against a real server process on PostgreSQL (see run.py)."""
