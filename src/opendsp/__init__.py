"""OpenDSP: an open shared care record (Dossier de Soins Partagé)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("opendsp")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
