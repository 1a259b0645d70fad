"""slaguard's own error tree.

    SlaguardError
    ├── ConfigError        configuration that cannot be accepted (all problems listed)
    ├── StoreError         the record cannot be read or written
    │   └── ImportError_   an interchange file with a bad line (nothing imported)
    └── ProbeSetupError    a probe that cannot even be built (bad URL, bad CA file)

Probe failures are not exceptions: a probe always returns a ``ProbeResult``;
foreign exceptions are mapped to an ``ErrorClass`` in ``probes/errors.py``.
"""

from __future__ import annotations


class SlaguardError(Exception):
    pass


class ConfigError(SlaguardError):
    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("\n".join(errors))


class StoreError(SlaguardError):
    pass


class ImportFileError(StoreError):
    def __init__(self, path: str, line: int, message: str):
        self.path, self.line, self.message = path, line, message
        super().__init__(f"{path}:{line}: {message}")


class ProbeSetupError(SlaguardError):
    pass
