"""Metadata lives in pyproject.toml (PEP 621); this shim keeps ``setup.py`` at the top level."""

from setuptools import setup

setup()
