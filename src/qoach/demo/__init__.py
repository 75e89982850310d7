"""Demo and benchmark data (`qoach demo-data`)."""

from qoach.demo.generator import (
    DEFAULT_PASSWORD,
    PRESETS,
    DemoDataError,
    DemoResult,
    DemoSpec,
    generate_demo_data,
)

__all__ = [
    "DEFAULT_PASSWORD",
    "PRESETS",
    "DemoDataError",
    "DemoResult",
    "DemoSpec",
    "generate_demo_data",
]
