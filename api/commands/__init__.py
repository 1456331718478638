"""Sub-commands of `aisle`, one module per area."""
