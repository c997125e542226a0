"""funcgemma's lab: evaluation, metrics, benchmarks, data generation and fine-tuning.

Apart from the service: nothing in ``funcgemma`` imports this package. It reaches the
same CLI through the ``funcgemma.commands`` entry point (``funcgemma eval``, ``train``,
``bench``, ``gen-data``, ``split-data``; see :mod:`funcgemma_lab.commands`), and
``tools/*.py`` are thin entry points over the same functions.
"""
