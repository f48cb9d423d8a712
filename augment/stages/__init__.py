"""One package per stage, named after the folder it writes, in pipeline order.

Each holds `FOLDER`, its `<Stage>Config`, a `<Stage>Result` (with `skipped` and a one-line
`summary`) and `run(cfg)`, which skips a complete output made with the same settings, refuses one
made with other settings unless `overwrite`, and continues a partial one (core.manifest.finished_output;
the Ray Train stages continue by epochs, core.ray_train.completed_epochs).
"""

import importlib

NAMES = ("real", "gan", "judge", "synthetic", "merged", "classifier", "report")


def __getattr__(name: str):
    if name in NAMES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(name)


def lazy_api(package: str, module: str, names: tuple[str, ...]):
    """A stage package's __getattr__: its run() needs torch and Ray, so `module` is imported when
    one of `names` is first asked for, not when the CLI reads a config's defaults."""

    def __getattr__(name: str):
        if name in names:
            return getattr(importlib.import_module(f"{package}.{module}"), name)
        raise AttributeError(name)

    return __getattr__
