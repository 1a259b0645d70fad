"""Configuration: the versioned schema, its loader and semantic checks."""

from slaguard.config.loader import load_config, parse_config
from slaguard.config.schema import Config
from slaguard.errors import ConfigError

__all__ = ["Config", "ConfigError", "load_config", "parse_config"]
