"""The pipeline: recommend, plan, load the data, run the attempts (in worker processes), compare, inspect, write the output folder."""
