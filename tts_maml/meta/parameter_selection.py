"""Adapter selection: which parameters the inner loop adapts, with PEFT's semantics.

``target_modules`` is either

- a list of names: each entry selects a parameter whose name is the entry or ends with
  ``"." + entry``, or every parameter of a module whose name is the entry or ends with
  ``"." + entry``; or
- a regex string: selects parameters (or whole modules) whose name ``re.fullmatch``-es it.

``exclude_modules`` has the same syntax and wins. A list entry or regex that matches nothing raises
``ValueError`` listing the closest names, as PEFT does when a target module is not found.

Weight-normed layers keep their weights as ``<layer>.parametrizations.weight.original0`` (g) and
``...original1`` (v); these names are selectable as they are, and also through the plain name
``<layer>.weight`` that the layer shows to the outside.

Example:
    >>> import torch
    >>> from tts_maml.meta.parameter_selection import select_parameters
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    >>> select_parameters(net, ["1"])
    ['1.weight', '1.bias']
    >>> select_parameters(net, r".*\\.bias", exclude_modules=["0"])
    ['1.bias']
"""

import difflib
import re
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Union

from torch import nn

Selector = Union[str, Sequence[str], None]


@dataclass(frozen=True)
class AdapterPreset:
    """A named parameter selection of a backbone.

    Args:
        name: the preset's name (``MamlConfig.adapter_preset``).
        target_modules: what to select (list or regex, see the module docstring).
        exclude_modules: what to leave out.
        description: one line for the preset tables (``tts-maml presets``, docs/training.md).
    """

    name: str
    target_modules: Union[str, Sequence[str]]
    exclude_modules: Union[str, Sequence[str], None] = None
    description: str = ""


def plain_name(param_name: str) -> str:
    """The name a parametrized weight shows to the outside.

    ``conv.parametrizations.weight.original0`` -> ``conv.weight``; other names are unchanged.
    """
    return re.sub(r"\.parametrizations\.([^.]+)\.original\d+$", r".\1", param_name)


def _names_matching(entry: str, param_names: Sequence[str], module_names: Sequence[str]) -> List[str]:
    def hit(name: str) -> bool:
        return name == entry or name.endswith("." + entry)

    modules = [m for m in module_names if m and hit(m)]
    return [
        p
        for p in param_names
        if hit(p) or hit(plain_name(p)) or any(p.startswith(m + ".") for m in modules)
    ]


def _regex_matching(pattern: str, param_names: Sequence[str], module_names: Sequence[str]) -> List[str]:
    regex = re.compile(pattern)
    modules = [m for m in module_names if m and regex.fullmatch(m)]
    return [
        p
        for p in param_names
        if regex.fullmatch(p) or regex.fullmatch(plain_name(p)) or any(p.startswith(m + ".") for m in modules)
    ]


def _no_match(what: str, role: str, candidates: Iterable[str]) -> ValueError:
    names = sorted(set(candidates))
    close = difflib.get_close_matches(what, names, n=5, cutoff=0.4)
    if not close:  # a short entry ("emb_g") is far from long names: fall back to substring hits
        close = [n for n in names if what.split(".")[-1] in n][:5]
    hint = f"; closest names: {', '.join(close)}" if close else ""
    return ValueError(f"{role} {what!r} matches no parameter or module of the model{hint}")


def _select(selector: Selector, role: str, param_names: Sequence[str], module_names: Sequence[str]) -> List[str]:
    if selector is None:
        return []
    if isinstance(selector, str):
        found = _regex_matching(selector, param_names, module_names)
        if not found:
            raise _no_match(selector, role, list(param_names) + list(module_names))
        return found
    found = []
    for entry in selector:
        hits = _names_matching(entry, param_names, module_names)
        if not hits:
            raise _no_match(entry, role, list(param_names) + list(module_names))
        found.extend(hits)
    return found


def select_parameters(
    model: nn.Module,
    target_modules: Selector,
    exclude_modules: Selector = None,
    never: Sequence[str] = (),
) -> List[str]:
    """Names of the parameters selected by ``target_modules`` minus ``exclude_modules``.

    Args:
        model: the model whose ``named_parameters()`` are selected from.
        target_modules: list of names or a regex string (see the module docstring).
        exclude_modules: same syntax; wins over ``target_modules``.
        never: module-name prefixes that are never selected whatever the patterns say (e.g. the
            VITS discriminator ``disc``, which is not part of the generator).

    Returns:
        Parameter names in ``named_parameters()`` order.

    Raises:
        ValueError: nothing is targeted, a list entry or regex matches nothing (the message lists
            the closest names), or everything selected is excluded.
    """
    if target_modules is None or (not isinstance(target_modules, str) and len(target_modules) == 0):
        raise ValueError("target_modules is empty: name the parameters or modules to adapt")
    param_names = [n for n, _ in model.named_parameters()]
    module_names = [n for n, _ in model.named_modules()]
    chosen = set(_select(target_modules, "target_modules", param_names, module_names))
    chosen -= set(_select(exclude_modules, "exclude_modules", param_names, module_names))
    chosen = {n for n in chosen if not any(n == p or n.startswith(p + ".") for p in never)}
    if not chosen:
        raise ValueError(
            f"target_modules={target_modules!r} minus exclude_modules={exclude_modules!r} leaves no parameter to adapt"
        )
    return [n for n in param_names if n in chosen]


def resolve_adapter(
    model: nn.Module,
    presets: Dict[str, AdapterPreset],
    preset: Optional[str] = None,
    target_modules: Selector = None,
    exclude_modules: Selector = None,
    never: Sequence[str] = (),
) -> List[str]:
    """The adapted parameter names for a config: ``target_modules`` if given, else the preset's;
    ``exclude_modules`` and the preset's own exclusions are removed.

    Raises ``ValueError`` naming the known presets when ``preset`` is unknown.
    """
    if target_modules is None or (not isinstance(target_modules, str) and len(target_modules) == 0):
        if preset not in presets:
            raise ValueError(f"adapter_preset {preset!r} is not one of: {', '.join(sorted(presets))}")
        chosen = presets[preset]
        target_modules = chosen.target_modules
        names = select_parameters(model, target_modules, chosen.exclude_modules, never)
    else:
        names = select_parameters(model, target_modules, None, never)
    if exclude_modules is not None and (isinstance(exclude_modules, str) or len(exclude_modules) > 0):
        excluded = set(select_parameters(model, exclude_modules, None, ()))
        names = [n for n in names if n not in excluded]
        if not names:
            raise ValueError(f"exclude_modules={exclude_modules!r} removes every parameter of the selection")
    return names


def count_parameters(model: nn.Module, names: Iterable[str]) -> int:
    """Number of scalar values in the named parameters."""
    params = dict(model.named_parameters())
    return sum(params[n].numel() for n in names)
