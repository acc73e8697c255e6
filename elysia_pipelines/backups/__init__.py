"""Backups of Weaviate collections: export, read back, catalog, verify, retention, analytics.

Modules: `layout` (the on-disk contract), `formats` (writers and compression),
`export`, `reader`, `filters`, `catalog`, `verify`, `retention`, `analytics`; the
`restore*` modules build on `reader`.
"""
