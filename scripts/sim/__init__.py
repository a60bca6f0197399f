"""The simulated day (``adstream simulate day``, docs/loop.md): the pipeline's logic in one process.

The profile fold, the scorer, the feedback joins and statistics, budgets, pacing, exploration
and retraining are the very core classes the Flink jobs wrap, driven here on one simulated
clock with no Flink, Kafka or Redis — running the real jobs for a day, twice, would take hours
of CPU; the jobs themselves are tested elsewhere (tests/flink, tests/integration).

``world`` draws the day, ``clock`` orders its work, ``server`` and ``feedback`` are the two
jobs' sides, ``truth`` the world's oracle and the regret, ``run`` one run of the day,
``retrain`` the models, ``stats`` the paired bootstrap, ``report`` and ``plots`` the output,
``day`` all of it. Library modules: the command is ``scripts/cli/simulate.py``.
"""
