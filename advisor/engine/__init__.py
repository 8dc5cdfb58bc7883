"""The rules engine: pure Python over the rule set under rules/; never imports TensorFlow."""
