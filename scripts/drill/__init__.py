"""The fault drill's parts: its processes, senders and readers (``env``) and its scenarios.
The entry point is ``scripts/fault_drill.py``."""
