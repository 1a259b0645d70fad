"""The simulated AI bid-document platform of ``slaguard demo``: its web app and its
scripted faults (``platform``), its home page with assets (``site``), its
document-generation API (``documents``, PDFs from ``pdf``), its capacity model and
books (``load``), and what slaguard watches on it (``config``, ``console``).
``slaguard.cli.demo`` wires it.
"""
