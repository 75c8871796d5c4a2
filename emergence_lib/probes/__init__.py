"""Probes of a trained network beyond emergence: the loss landscape around its weights and the loss's curvature.

- :mod:`~emergence_lib.probes.landscape`: random directions, loss surfaces, ruggedness, and
  :class:`~emergence_lib.probes.landscape.LandscapeProbe` (the landscape chapter's measurement of stored runs).
- :mod:`~emergence_lib.probes.hessian`: :class:`~emergence_lib.probes.hessian.Curvature`, one gradient graph per
  model and batch for Hessian-vector products, top eigenvalues and the trace.
"""

from . import hessian, landscape

__all__ = ["hessian", "landscape"]
