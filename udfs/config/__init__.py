"""Typed, frozen configuration: the one entry point that reads ``conf/*.yaml`` and the environment.

``load()`` (``udfs.config.loader``) builds a :class:`Config` (``udfs.config.schema``);
``to_dict``/``from_dict`` ship it to Flink workers. Everything else imports from here.
See docs/configuration.md.
"""
from udfs.config.experiments import Experiment, Experiments, Variant  # noqa: F401
from udfs.config.loader import (CONF_DIR, PATH_KEYS, ROOT, absolute, from_dict, load,  # noqa: F401
                               load_experiments, to_dict)
from udfs.config.schema import *  # noqa: F401,F403  (the sections: Config, Kafka, Profile, …)
from udfs.config.schema import Config  # noqa: F401
from udfs.errors import ConfigError  # noqa: F401
