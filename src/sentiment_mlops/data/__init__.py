"""The reviews: fetch and verify the archive (:mod:`.fetch`), read it (:mod:`.archive`), their schema
and validation (:mod:`.schema`), the ``ingest`` stage (:mod:`.ingest`) and the ``split`` stage with
reading the splits back (:mod:`.splits`). Import from those modules; this one holds no code.
"""
