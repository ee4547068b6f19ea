"""``python -m jaxcalc``: the same as the ``jaxcalc`` command."""

from jaxcalc._cli import run

run()
