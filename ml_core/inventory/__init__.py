"""Inventory policy: periodic-review order-up-to decisions and the simulation that judges them."""
