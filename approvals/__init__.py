"""Approvals: the one door for human-approved writes.

`kinds` says, per proposal kind (purchase order, price change), who decides it, its bounds, how
an edit changes it and how it is executed; `records` records what a planner proposes (reusing
what is open, never re-proposing what was approved); `decisions` decides and executes in one
transaction and finishes whatever a crash left unfinished; `reader` is what the HTTP routes and
the command line show. It sits under `tools/` and over `rag/` and `ml_core/`: it imports
`retail/` and `ml_core/` only.
"""
