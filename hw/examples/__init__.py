"""Examples of using the generated units from a user's own Amaranth design."""
