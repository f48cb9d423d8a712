"""Typer commands built from the stage configs: each option's flag, type, default and help come from
its one declaration (core/options.py), never written again here.

We build on typer (already the CLI) rather than adding jsonargparse: typer gives the console a user
already reads, and a config dataclass maps onto typer's options field by field (what jsonargparse
would do for us), with our one-line errors and exit 2 kept. Every command also takes `--config FILE`
(YAML settings, the command line wins) and `--print-config` (the resolved settings as that YAML).
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import Field
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from augment.core.errors import AugmentError, first_line
from augment.core.options import REQUIRED, default_of, flag_of, option_fields

SCALARS = (bool, int, float, str)
CONFIG_FILE, PRINT_CONFIG = "config_file", "print_config"


def stage_command(app: typer.Typer, name: str, config_class: type, **settings: Any):
    """Decorator: `app`'s command `name` takes config_class's options and calls the function with
    the config they build (or prints it, with --print-config)."""

    def decorate(body: Callable[[Any], None]) -> Callable[..., None]:
        specs = ordered_options(config_class)

        def command(ctx: typer.Context, **values: Any) -> None:
            cfg = build_config(config_class, specs, ctx, values)
            if values[PRINT_CONFIG]:
                typer.echo(settings_yaml(cfg), nl=False)
                return
            body(cfg)

        command.__signature__ = inspect.Signature(  # what typer reads: one parameter per option
            [inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)]
            + [_parameter(config_class, spec) for spec in specs]
            + _file_parameters()
        )
        command.__doc__ = body.__doc__ or config_class.__doc__
        command.__name__ = body.__name__
        app.command(name, **settings)(command)
        return command

    return decorate


def ordered_options(config_class: type) -> list[Field]:
    """The config's options, its own declarations first (then the shared groups'), as --help lists them."""
    own = [name for klass in config_class.__mro__[:1] for name in getattr(klass, "__annotations__", {})]
    specs = option_fields(config_class)
    return sorted(specs, key=lambda spec: own.index(spec.name) if spec.name in own else len(own))


def flag_of_field(config_class: type, name: str) -> str:
    return flag_of(config_class.__dataclass_fields__[name])


def build_config(config_class: type, specs: list[Field], ctx: typer.Context, values: dict[str, Any]):
    """The config from --config FILE's settings, then the options given on the command line (or by
    their environment variable); the rest keep the config's defaults."""
    given = {
        spec.name: _from_cli(spec, values[spec.name])
        for spec in specs
        if getattr(ctx.get_parameter_source(spec.name), "name", None) in ("COMMANDLINE", "ENVIRONMENT")
    }
    chosen = {**read_settings(values[CONFIG_FILE], specs), **given}
    for spec in specs:
        if default_of(spec) is REQUIRED and chosen.get(spec.name) is None:
            raise AugmentError(f"{flag_of(spec)} is required")
    return config_class(**chosen)


def settings_of(cfg) -> dict[str, Any]:
    """A config's settings as plain YAML/JSON values, by field name: every option but the ones that
    say what to do this time (--overwrite, --force), so the file repeats a run rather than its redo."""
    return {
        spec.name: _plain(getattr(cfg, spec.name))
        for spec in ordered_options(type(cfg))
        if not spec.metadata.get("action")
    }


def settings_yaml(cfg) -> str:
    import yaml

    return yaml.safe_dump(settings_of(cfg), sort_keys=False, allow_unicode=True)


def read_settings(path: str | None, specs: list[Field]) -> dict[str, Any]:
    """--config FILE: a YAML mapping of option names (as --print-config writes them) to values."""
    if path is None:
        return {}
    import yaml

    try:
        found = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise AugmentError(f"--config {path}: {first_line(exc)}") from None
    if not isinstance(found, dict):
        raise AugmentError(f"--config {path}: expected option: value lines, as --print-config writes them")
    known = {spec.name for spec in specs}
    unknown = sorted(set(found) - known)
    if unknown:
        raise AugmentError(f"--config {path}: unknown option {unknown[0]!r} (options: {', '.join(sorted(known))})")
    return found


def _parameter(config_class: type, spec: Field) -> inspect.Parameter:
    cli_type = _cli_type(typing.get_type_hints(config_class)[spec.name], spec)
    default = default_of(spec)
    negated = _negated(spec)
    if default is REQUIRED:
        shown = None
    elif negated:
        shown = not default
    elif spec.metadata.get("parse") is not None and isinstance(default, tuple):
        shown = ",".join(map(str, default))
    else:
        shown = default
    info = typer.Option(
        *_declarations(spec, cli_type, negated),
        help=help_text(config_class, spec),
        envvar=spec.metadata.get("envvar"),
        hidden=spec.metadata.get("hidden", False),
        show_default=default is not REQUIRED and default is not None and default != (),
    )
    return inspect.Parameter(
        spec.name, inspect.Parameter.KEYWORD_ONLY, default=shown, annotation=Annotated[cli_type, info]
    )


def help_text(config_class: type, spec: Field) -> str:
    """The declared help, plus where `augment run`'s preset differs from the stage alone."""
    from augment.pipeline_config import preset_note

    text = spec.metadata["help"] + (" [required]" if default_of(spec) is REQUIRED else "")
    note = preset_note(config_class, spec)
    return f"{text} {note}" if note else text


def _file_parameters() -> list[inspect.Parameter]:
    keyword = inspect.Parameter.KEYWORD_ONLY
    return [
        inspect.Parameter(
            CONFIG_FILE,
            keyword,
            default=None,
            annotation=Annotated[
                Optional[str], typer.Option("--config", help="YAML settings (as --print-config writes them).")
            ],
        ),
        inspect.Parameter(
            PRINT_CONFIG,
            keyword,
            default=False,
            annotation=Annotated[
                bool, typer.Option("--print-config", help="Print the resolved settings as YAML and exit.")
            ],
        ),
    ]


def _declarations(spec: Field, cli_type: Any, negated: bool) -> tuple[str, ...]:
    flag = flag_of(spec)
    if cli_type is bool and default_of(spec) is True and not negated:
        return (f"{flag}/--no-{flag[2:]}",)
    return (flag,)


def _negated(spec: Field) -> bool:
    """A bool option whose flag says the opposite of its field (--offline for download)."""
    return default_of(spec) is True and spec.metadata.get("flag") is not None


def _from_cli(spec: Field, value: Any) -> Any:
    return (not value) if _negated(spec) else value


def _cli_type(hint: Any, spec: Field) -> Any:
    """The type typer parses: the field's scalar type (Optional where None is allowed), else text
    that the option's `parse` turns into the field's value."""
    members = (
        typing.get_args(hint)
        if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
        else (hint,)
    )
    scalars = [member for member in members if member is not type(None)]
    base = scalars[0] if len(scalars) == 1 and scalars[0] in SCALARS else str
    return Optional[base] if type(None) in members or default_of(spec) is REQUIRED else base


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value
