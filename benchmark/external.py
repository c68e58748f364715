"""Models from outside the repository on the command line: ``--arch/--checkpoint`` and the pre-flight check.

``run``, ``profile``, ``check`` and ``validate`` share :func:`adhoc_options`; :func:`adhoc_models` turns
the options into registered cards (``registry.plugins.register_adhoc``) and :func:`models_arg` merges
their names with ``--models``. :func:`preflight` builds every external model of a selection once, with
its checkpoint, on a tiny input, so that a callable that raises, a checkpoint that does not fit, or an
output of the wrong size stops the command with one line before anything is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import click

PREFLIGHT_SIZE = 12  # LR pixels a side: enough for any upsampler's padding, cheap for any model


def adhoc_options(f: Callable) -> Callable:
    """The ad-hoc model options, for any command that selects models."""
    opts = [
        click.option("--arch", "arch", multiple=True, metavar="PATH.py:CALLABLE",
                     help="your model: a callable (file or package.module) called with scale=<scale> and "
                          "--arch-kwargs, returning an nn.Module (RGB in and out); repeatable, paired with "
                          "--checkpoint"),
        click.option("--checkpoint", "checkpoint", multiple=True, metavar="FILE",
                     help="its state dict (loaded with weights_only=True, strictly; its sha256 goes with every row)"),
        click.option("--name", "adhoc_name", multiple=True, metavar="NAME",
                     help="the model's name in results (default: the checkpoint's file stem)"),
        click.option("--arch-kwargs", "arch_kwargs", multiple=True, metavar="JSON",
                     help="keyword arguments for the callable, as a JSON object"),
        click.option("--input-range", "input_range", multiple=True, type=click.Choice(["1", "255"]),
                     help="the range the network expects: 1 ([0, 1], default) or 255 ([0, 255])"),
        click.option("--state-key", "state_key", multiple=True, metavar="KEY",
                     help="the entry holding the state dict (default: the file itself, or its only "
                          "params_ema / params / state_dict entry)"),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _per_model(values: Sequence[str], n: int, option: str, default):
    """One value per --arch: none (the default for all), one (for all), or one each."""
    if not values:
        return [default] * n
    if len(values) == 1:
        return list(values) * n
    if len(values) != n:
        raise click.UsageError(f"{option} is given {len(values)} times for {n} --arch; give it once or once each")
    return list(values)


def adhoc_models(arch: Sequence[str], checkpoint: Sequence[str], names: Sequence[str], arch_kwargs: Sequence[str],
                 input_range: Sequence[str], state_key: Sequence[str], scales: Sequence[int],
                 echo: Callable[[str], None] = lambda m: click.echo(m, err=True)) -> list[str]:
    """Register the ``--arch/--checkpoint`` models (origin 'cli'); returns their names."""
    from registry.plugins import AdhocSpec, register_adhoc
    from registry.weights import WeightsError, find_state_dict, sha256_file

    if not arch and not checkpoint and not names:
        return []
    if len(arch) != len(checkpoint):
        raise click.UsageError(f"{len(arch)} --arch but {len(checkpoint)} --checkpoint: give them in pairs")
    n = len(arch)
    if names and len(names) != n:
        raise click.UsageError(f"--name is given {len(names)} times for {n} --arch; give one per --arch")
    kwargs = _per_model(arch_kwargs, n, "--arch-kwargs", "{}")
    ranges = _per_model(input_range, n, "--input-range", "1")
    keys = _per_model(state_key, n, "--state-key", "auto")
    out = []
    for i, (a, ckpt) in enumerate(zip(arch, checkpoint, strict=True)):
        p = Path(ckpt).expanduser().absolute()
        if not p.is_file():
            raise click.BadParameter(f"{p} not found", param_hint="--checkpoint")
        try:
            kw = json.loads(kwargs[i])
        except json.JSONDecodeError as e:
            raise click.BadParameter(f"{kwargs[i]!r} is not JSON ({e.msg})", param_hint="--arch-kwargs") from None
        if not isinstance(kw, dict):
            raise click.BadParameter(f"{kwargs[i]!r} is not a JSON object", param_hint="--arch-kwargs")
        name = names[i] if names else p.stem
        # Hash first, then unpickle tensors only: the key found here is the one every worker uses.
        sha = sha256_file(p)
        key = keys[i]
        if key == "auto":
            import torch

            from registry.weights import _refusal

            try:
                obj = torch.load(p, map_location="cpu", weights_only=True)
            except Exception as e:
                raise WeightsError(f"{p}: {_refusal(e)}") from None
            _, found = find_state_dict(obj, "auto", p)
            echo(f"{name}: the state dict is {p.name}[{found!r}]" if found
                 else f"{name}: the state dict is {p.name} itself")
            key = found
        spec = AdhocSpec(arch=_absolute_arch(a), checkpoint=str(p), name=name, scales=tuple(sorted(set(scales))),
                         arch_kwargs=kw, input_range=float(ranges[i]), state_key=key, sha256=sha)
        out.append(register_adhoc(spec).name)
    return out


def _absolute_arch(arch: str) -> str:
    where, sep, attr = arch.rpartition(":")
    if sep and (where.endswith(".py") or "/" in where):
        return f"{Path(where).expanduser().absolute()}:{attr}"
    return arch


def models_arg(ctx: click.Context, models: str, extra: Sequence[str]) -> str:
    """``--models`` with the ad-hoc names: only them when ``--models`` was left at its default."""
    if not extra:
        return models
    defaulted = ctx.get_parameter_source("models") == click.core.ParameterSource.DEFAULT
    return ",".join(extra) if defaulted else ",".join([models, *extra])


def preflight(selections, weights_dir=None) -> None:
    """Build each external model (plugin or ad-hoc) at its scale with its checkpoint and run it once on a
    tiny input; raise PlanError naming the model for a build error, a load error or a wrong output."""
    import torch

    from benchmark.plan import PlanError
    from registry.plugins import PluginError
    from registry.weights import WeightsError

    for s in selections:
        if not s.card.external:
            continue
        try:
            net = s.card.build_model(s.scale, s.variant, weights_dir)
            x = torch.rand(1, 3, PREFLIGHT_SIZE, PREFLIGHT_SIZE, generator=torch.Generator().manual_seed(0))
            with torch.no_grad():
                y = net(x)
        except (PluginError, WeightsError) as e:
            raise PlanError(str(e)) from None
        except Exception as e:
            first = (str(e).strip().splitlines() or [""])[0]
            raise PlanError(f"model {s.variant} x{s.scale}: its forward pass raised {type(e).__name__}: {first}") \
                from None
        want = (1, 3, PREFLIGHT_SIZE * s.scale, PREFLIGHT_SIZE * s.scale)
        if not isinstance(y, torch.Tensor) or tuple(y.shape) != want:
            got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
            raise PlanError(f"model {s.variant} x{s.scale}: output {got} for a {PREFLIGHT_SIZE}x{PREFLIGHT_SIZE} "
                            f"input, expected {want}")
