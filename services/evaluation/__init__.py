"""The year's verdict: five-aspect weighted evaluation of orgs by diverse evaluator groups,
the secretaries' debriefing, calibration, results and what they set in motion.
"""
