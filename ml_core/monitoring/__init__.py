"""Monitoring of the store's data and models after training: drift per segment, forecast error."""
