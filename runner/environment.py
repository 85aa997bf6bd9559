"""The environment fingerprint recorded with every run.

`exact` reproduction of a metric series is expected only between runs with
equal fingerprints (docs/design.md, "Verification"): the same Python, torch and
numpy, the same platform and CPU model, the same thread count.

Cheap on purpose: versions come from the already-imported module when there is
one and from the installed package's metadata otherwise, so fingerprinting
never pays for importing torch.
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata

from runner.spec import Environment


def fingerprint(threads: int) -> Environment:
    """Describe this interpreter and machine, for a run that used `threads` threads."""
    return Environment(
        python=platform.python_version(),
        torch=_package_version("torch"),
        numpy=_package_version("numpy"),
        platform=platform.platform(),
        machine=platform.machine(),
        cpu=cpu_model(),
        threads=threads,
    )


def _package_version(name: str) -> str | None:
    module = sys.modules.get(name)
    version = getattr(module, "__version__", None)
    if isinstance(version, str):
        return version
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


# Keys under which /proc/cpuinfo names the CPU: x86 ("model name"), some ARM
# kernels ("Hardware", "Model"), POWER ("cpu"), s390 ("processor 0"-style lines
# are skipped by asking for these exact keys).
_CPUINFO_KEYS = ("model name", "Hardware", "Model", "cpu model", "cpu")


def cpu_model() -> str | None:
    """The CPU model string: /proc/cpuinfo on Linux, platform.processor() elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            fields: dict[str, str] = {}
            for line in cpuinfo:
                key, sep, value = line.partition(":")
                key = key.strip()
                if sep and key in _CPUINFO_KEYS and key not in fields and value.strip():
                    fields[key] = value.strip()
    except OSError:
        fields = {}
    for key in _CPUINFO_KEYS:
        if key in fields:
            return fields[key]
    return platform.processor() or None
