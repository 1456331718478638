"""The retail domain: schemas, settings, the SQL store, the generated world and the importers.

Every other layer of Aisle stands on this package; it imports none of them.
"""
