"""For `python setup.py sdist bdist_wheel` and older tools; everything is in pyproject.toml."""

from setuptools import setup

setup()
