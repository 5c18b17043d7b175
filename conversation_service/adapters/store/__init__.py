"""All SQL of the service, one store per aggregate, on PostgreSQL (asyncpg) and SQLite.

Each store is bound to the tenant of the unit of work that built it and implements a Protocol
of `domain/ports.py`; the domain never sees a statement, a row or a driver.
"""
