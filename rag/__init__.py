"""Retrieval: llama-index ingestion, the Qdrant store and the product knowledge graph (later issues)."""
