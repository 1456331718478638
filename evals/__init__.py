"""The evaluation harness: suites, metrics, runners and reports (later issues)."""
