"""1. spec — what to measure: the run spec (flags and YAML merged into a typed RunSpec), lengths,
reference choice and the gate's policy. Nothing here loads a model or reads a run."""
