"""Remedy plugins for posterior collapse, and the registry that finds them."""

from remedies.base import HOOKS, Remedy
from remedies.registry import build, get, names, parse, register

__all__ = ["HOOKS", "Remedy", "build", "get", "names", "parse", "register"]
