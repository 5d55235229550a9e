"""Kept for `python setup.py sdist bdist_wheel`; everything is declared in pyproject.toml.

`pip install -e .`, `pip wheel --no-deps .` and `python -m build` read pyproject.toml directly.
`bdist_wheel` needs setuptools 70.1 or newer (older ones: `pip install wheel`).
"""

from setuptools import setup

setup()
