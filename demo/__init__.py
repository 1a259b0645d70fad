"""The simulated AI bid-document platform of ``slaguard demo``: its web app and its
scripted faults, and what slaguard watches on it.  ``slaguard.cli.demo`` wires it.
"""
