"""The service: FastAPI app, routes, web pages and the `aisle` command line."""
