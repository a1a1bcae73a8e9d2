"""Maps the card's folders onto one installed namespace: ``services/`` is ``leadrelay.services``
and ``shared/`` is ``leadrelay.shared``, so nothing installs as a bare ``shared`` or ``services``
that could collide with another project's. Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

FOLDERS = ("shared", "services")

setup(
    packages=[f"leadrelay.{name}" for name in find_packages(include=[f"{f}*" for f in FOLDERS])],
    package_dir={f"leadrelay.{folder}": folder for folder in FOLDERS},
)
