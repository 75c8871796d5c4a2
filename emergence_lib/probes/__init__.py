"""Probes of a trained network beyond emergence: the loss landscape around its weights and the loss's curvature."""

from . import hessian, landscape

__all__ = ["hessian", "landscape"]
