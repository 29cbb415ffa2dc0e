"""The segment dimensions: which event attribute each comes from, loaded from YAML.

Invariants: dimension names are unique, not ``all`` (the campaign as a whole) and made
of lowercase letters, digits and ``_`` (they are values of ``kpi_minute.dim`` and names
in URLs and Grafana variables); every attribute named is a string field of its event's
contract; a dimension has a ``click`` attribute, a ``form`` attribute, or both; ``top``
is at least 1. The set's :attr:`SegmentSet.signature` changes whenever what a fact's
segment values mean changes, so state built under another set is never trusted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .events import AdClick, FormSubmission

DEFAULT_SEGMENTS_FILE = Path(__file__).with_name("segments.yaml")
#: the value every value past a dimension's top N counts as
OTHER = "(other)"
#: the dimension (and its one value) that is the campaign as a whole
ALL = "all"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class SegmentConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Dimension:
    name: str
    #: the ad_click attribute its values come from; None: a lead-level dimension
    click: str | None
    #: the form_submission attribute: a lead's value when it has no click (or always,
    #: for a lead-level dimension); None: such a lead's value is "(unknown)"
    form: str | None
    #: the most values counted apart per campaign and minute
    top: int

    @property
    def lead_level(self) -> bool:
        return self.click is None


@dataclass(frozen=True)
class SegmentSet:
    dimensions: tuple[Dimension, ...]
    #: the top N of a dimension that does not say its own (and of dimensions of facts
    #: written under an earlier set)
    default_top: int = 25

    @property
    def names(self) -> tuple[str, ...]:
        """Every dimension, in the configured order (the order of a lead's values)."""
        return tuple(d.name for d in self.dimensions)

    @property
    def click_names(self) -> tuple[str, ...]:
        """The dimensions a click is counted under (the order of a click's values)."""
        return tuple(d.name for d in self.dimensions if d.click is not None)

    @property
    def dims(self) -> tuple[str, ...]:
        """The values ``kpi_minute.dim`` takes: ``all`` and every dimension."""
        return (ALL, *self.names)

    @property
    def signature(self) -> str:
        """What the set means, as text: equal sets have equal signatures."""
        return ";".join(f"{d.name}={d.click or ''}/{d.form or ''}" for d in self.dimensions)

    def top(self, name: str) -> int:
        return next(d.top for d in self.dimensions if d.name == name)

    def by_clicks(self, dim: str) -> bool:
        """Whether clicks are counted under ``dim`` (``all`` and click dimensions): only
        then has a segment a part of the campaign's spend."""
        return dim == ALL or any(d.name == dim and not d.lead_level for d in self.dimensions)

    def lead_dimension_of(self, form_attribute: str) -> str | None:
        """The lead-level dimension that reads ``form_attribute``, if one is configured."""
        return next(
            (d.name for d in self.dimensions if d.lead_level and d.form == form_attribute), None
        )


def _string_fields(record: type[Any]) -> set[str]:
    fields = record._options.fields
    return {name for name, kind in fields.items() if kind in (str, str | None)}


CLICK_ATTRIBUTES = frozenset(_string_fields(AdClick) - {"event_id", "click_id", "campaign_id"})
FORM_ATTRIBUTES = frozenset(_string_fields(FormSubmission) - {"event_id", "lead_id", "click_id"})


def parse_segments(raw: object, where: str = "segments") -> SegmentSet:
    """The set a parsed YAML document describes; :class:`SegmentConfigError` names what
    is wrong."""
    if not isinstance(raw, dict) or not isinstance(raw.get("dimensions"), list):
        raise SegmentConfigError(f"{where}: expected a mapping with a 'dimensions' list")
    default_top = raw.get("top_values", 25)
    if type(default_top) is not int or default_top < 1:
        raise SegmentConfigError(
            f"{where}: top_values must be a whole number >= 1, got {default_top!r}"
        )
    unknown_keys = set(raw) - {"top_values", "dimensions"}
    if unknown_keys:
        raise SegmentConfigError(f"{where}: unknown keys {sorted(unknown_keys)}")
    out: list[Dimension] = []
    for i, item in enumerate(raw["dimensions"], start=1):
        at = f"{where}: dimension {i}"
        if not isinstance(item, dict):
            raise SegmentConfigError(f"{at}: expected a mapping with a name, got {item!r}")
        if "name" not in item:
            raise SegmentConfigError(f"{at}: needs a name")
        name = item["name"]
        if not isinstance(name, str) or not _NAME.match(name) or name == ALL:
            raise SegmentConfigError(
                f"{at}: name {name!r} must be lowercase letters, digits and _ (not 'all')"
            )
        extra = set(item) - {"name", "click", "form", "top"}
        if extra:
            raise SegmentConfigError(f"{at} ({name}): unknown keys {sorted(extra)}")
        click, form = item.get("click"), item.get("form")
        if click is None and form is None:
            raise SegmentConfigError(f"{at} ({name}): needs a click or a form attribute")
        for field, value, event, attributes in (
            ("click", click, "an ad_click", CLICK_ATTRIBUTES),
            ("form", form, "a form_submission", FORM_ATTRIBUTES),
        ):
            if value is not None and (not isinstance(value, str) or value not in attributes):
                raise SegmentConfigError(
                    f"{at} ({name}): {field} {value!r} is not {event} attribute; one of "
                    f"{', '.join(sorted(attributes))}"
                )
        top = item.get("top", default_top)
        if type(top) is not int or top < 1:
            raise SegmentConfigError(f"{at} ({name}): top must be a whole number >= 1, got {top!r}")
        earlier = next((j for j, d in enumerate(out, start=1) if d.name == name), None)
        if earlier is not None:
            raise SegmentConfigError(
                f"{at} ({name}): name {name!r} is taken by dimension {earlier}; "
                "dimension names must be unique"
            )
        out.append(Dimension(name, click, form, top))
    return SegmentSet(tuple(out), default_top)


def load_segments(path: Path | None = None) -> SegmentSet:
    """The segment set of ``path`` (default: the built-in ``segments.yaml``)."""
    path = path or DEFAULT_SEGMENTS_FILE
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SegmentConfigError(f"cannot read segments file {path}: {exc}") from exc
    return parse_segments(raw, str(path))


#: the built-in set (``segments.yaml`` beside this module)
BUILT_IN_SEGMENTS = load_segments()
