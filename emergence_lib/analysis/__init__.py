"""From stored results to verdicts: the claims' effects and intervals (:mod:`.claims`), the rules as first
registered (:mod:`.registered`), the intervals' measured coverage (:mod:`.calibration`), the metric's robustness
(:mod:`.robustness`) and the reproduction scorecard (:mod:`.scorecard`)."""

from . import calibration, claims, registered, robustness, scorecard

__all__ = ["calibration", "claims", "registered", "robustness", "scorecard"]
