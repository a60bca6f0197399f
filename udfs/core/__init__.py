"""Pure logic: profiles, targeting, caps, budgets, review, ranking, the scoring step.

Given values (and a clock, a state store or a model passed in), return values. Nothing
here imports PyFlink, Feast, Redis, Kafka or onnxruntime, nor ``udfs.io``/``udfs.flink``:
``tests/contract/test_import_rules.py`` fails the build when a module does, even lazily.
So every rule can be tested without services, and runs the same in a job, a script or
a notebook.
"""
