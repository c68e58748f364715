"""The ``srbench`` command line.

Each command lives in the module that owns its work and is imported only when it is called, so a
command that needs no torch (``site``, ``results``) runs where torch is not installed or cannot load.
Input errors (a bad option, an unknown model, a missing file) end in one line naming the culprit and
exit status 1; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import importlib

import click

# command name -> "module:attribute"
COMMANDS = {
    "run": "benchmark.commands:run",
    "list": "benchmark.commands:list_cmd",
    "data": "benchmark.commands:data",
    "weights": "benchmark.commands:weights",
    "profile": "benchmark.profile_run:profile_command",
    "results": "benchmark.results_table:results_command",
    "site": "benchmark.site:site_command",
    "visuals": "benchmark.site.visuals:visuals_command",
    "check": "benchmark.check:check_command",
    "export": "benchmark.export:export_command",
    "validate": "benchmark.validate:validate_command",
}
# Errors that are the user's input, not a bug: "module:class", imported only when an error is raised
# (a command that never imports torch cannot have raised one of torch's modules' errors).
USER_ERRORS = ("benchmark.store:StoreError", "benchmark.data:DataError", "benchmark.plan:PlanError",
               "registry.weights:WeightsError", "registry:UnknownModel", "registry.select:SelectionError",
               "benchmark.executors:ExecutorError", "benchmark.driver:DriverError", "registry.plugins:PluginError")


def _load(spec: str):
    module, attr = spec.split(":")
    return getattr(importlib.import_module(module), attr)


def _user_errors() -> tuple[type[BaseException], ...]:
    out = []
    for spec in USER_ERRORS:
        try:
            out.append(_load(spec))
        except ImportError:
            continue
    return tuple(out)


class _Group(click.Group):
    """Loads commands on demand; turns the harness's input errors into one line and exit status 1."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str):
        spec = COMMANDS.get(name)
        return _load(spec) if spec else None

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.exceptions.ClickException:
            raise
        except KeyboardInterrupt:
            if ctx.params.get("debug"):
                raise
            click.echo("interrupted: run the same command again to resume where it stopped", err=True)
            ctx.exit(130)
        except OSError as e:  # the file system said no (read-only, full, missing): name the file
            if ctx.params.get("debug") or not (e.filename or e.strerror):
                raise
            where = f"{e.filename}: " if e.filename else ""
            raise click.ClickException(f"{where}{e.strerror or e} (--debug shows where)") from None
        except Exception as e:
            if ctx.params.get("debug") or not isinstance(e, _user_errors()):
                raise
            msg = str(e).strip()
            if len(msg) > 1 and msg[0] == msg[-1] and msg[0] in "'\"":  # a KeyError's repr of its message
                msg = msg[1:-1]
            raise click.ClickException(msg) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="srbench")
@click.option("--debug", is_flag=True, help="show the full traceback of an error")
@click.option("--plugin", "plugins", multiple=True, metavar="PATH.py|MODULE",
              help="load models from a plugin (a file or an importable module calling registry.register_model); "
                   "repeatable; also $SRBENCH_PLUGINS (comma-separated) and the 'srbench.models' entry points")
def main(debug: bool, plugins: tuple[str, ...]) -> None:
    """srbench: evaluate efficient super-resolution models under one protocol."""
    if plugins:
        from registry.plugins import load_plugin

        for spec in plugins:
            load_plugin(spec)


if __name__ == "__main__":
    main()
