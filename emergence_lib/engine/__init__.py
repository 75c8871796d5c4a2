"""The experiments engine: datasets, models, initialization, training, pruning, stored runs and run sizes.

Data flows ``data -> models (init) -> train (callbacks: measure, prune, record) -> runs`` (stored under a hash
of their config); :mod:`.profiles` holds every size in one table and :mod:`.locations` names every folder.
"""

from . import data, init, locations, models, profiles, prune, runs, train

__all__ = ["data", "init", "locations", "models", "profiles", "prune", "runs", "train"]
