"""Rendering: rich for the terminal, JSON and Markdown for files. The only place rich is used."""
