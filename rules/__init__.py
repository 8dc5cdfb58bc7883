"""The shipped rule set: package data (schemes.yaml, hardware.yaml, tree.yaml), read with importlib.resources."""
