"""Example answers files, shipped as package data (the demo reads demo.yaml)."""
