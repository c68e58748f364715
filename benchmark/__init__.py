"""srbench: a reproducible benchmark harness for efficient image super-resolution.

The flow is one way: data -> degrade -> infer -> metrics -> store -> site.
"""

__version__ = "0.1.0"
