"""2. run — measure: resolve the model, plan cells, freeze prompts as token ids, drive each precision
through its backend (qlongbench.backends) on the task families' samples (qlongbench.tasks), append
records, write the versioned run header (header.py) and the run directory (store.py)."""
