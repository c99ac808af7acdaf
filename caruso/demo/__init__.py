"""Starting from a vertical template: ``caruso new`` copies one, ``caruso demo`` runs one with
demo data and synthetic traffic (see docs/demo.md)."""
