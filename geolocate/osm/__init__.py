"""OpenStreetMap features as evidence: presets, an H3-indexed feature store, queries, the map expert.

:mod:`.importer` writes the store from any ``.osm.pbf`` extract, :mod:`.query` parses and evaluates the
small query syntax (``"pharmacy; tram stop within 60 m"``) on it, :mod:`.expert` turns a query into an
expert of kind ``map``, :mod:`.postgis` runs the same queries on an osm2pgsql database. See docs/osm.md.
"""
