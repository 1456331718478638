"""The SQL store: schema, engine, migrations and bulk loading."""
