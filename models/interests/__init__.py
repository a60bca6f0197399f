"""Interests, the offline side: user segments (``segments``), collaborative affinities and
association rules (``affinities``), their publication to Feast (``publish``) and their
evaluation (``evaluate``); ``adstream interests …`` is ``cli``. docs/interests.md.

The online half of segments (the vector and the nearest centroid) is ``udfs.core.segments``:
this package fits the model that the profile job applies.
"""
