"""Datasets: loaders returning :class:`Frame` records, and the setup (download + preparation) of the paper's."""

from .frame import DatasetError, Frame

__all__ = ["DatasetError", "Frame"]
