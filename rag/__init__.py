"""Retrieval: llama-index ingestion, Qdrant store, product knowledge graph (later issues)."""
