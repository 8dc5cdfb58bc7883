"""Carrying out schemes: the only package that imports TensorFlow and TFMOT (lazily, inside functions)."""
