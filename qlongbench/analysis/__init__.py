"""3. analysis — read a run directory into typed report data: pair records (pairing.py, shared with
the gate), cell statistics, drops with intervals, verdicts, memory and KV grids. Pure: no files
written, no engines loaded."""
