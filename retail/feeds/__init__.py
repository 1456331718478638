"""Daily feeds: sales, inventory snapshots and catalogue updates arriving as files, checked
(schema, freshness, volume, value ranges) before they land, applied whole or quarantined."""
