"""Is attention an explanation? Importable logic for the study pipeline.

Every stage of the Snakemake workflow is a thin adapter around a function in this
package, so the same code runs from the workflow, from the command line
(``python -m analysis``) and from the tests.
"""

__version__ = "0.1.0"
