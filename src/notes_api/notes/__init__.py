"""The notes: the example this project exists for, one feature from HTTP to SQL, in four files.

- routes.py   thin async routes: validate, call one service function, answer
- service.py  SQL-first functions: Core statements run with databases' verbs
- schemas.py  what clients send and get back (pydantic)
- tables.py   the `notes` table (SQLAlchemy Core); notes_api/migrations/ creates it
"""
