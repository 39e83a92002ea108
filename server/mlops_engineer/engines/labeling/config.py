"""A typed labelling spec rendered to Label Studio's XML labelling config, and the value an
annotation holds for it.

One spec is one question per task: a control tag (Choices, Labels, RectangleLabels or
Rating) named `name`, bound to one object tag (Text or Image) showing the data field.
The XML is built with ElementTree (attribute values are escaped by it, never by string
formatting) and parsed back and checked before any project is created.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any, Literal

from mlops_engineer.errors import ToolError

Kind = Literal["classification", "multi_label", "ner", "bbox", "rating"]
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
CONTROL_TAG = {"classification": "Choices", "multi_label": "Choices", "ner": "Labels", "bbox": "RectangleLabels", "rating": "Rating"}
RESULT_TYPE = {"classification": "choices", "multi_label": "choices", "ner": "labels", "bbox": "rectanglelabels", "rating": "rating"}
# Characters XML 1.0 cannot carry at all (C0 controls but tab and line breaks, surrogates, U+FFFE/F).
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
SEPARATOR = "|"  # joins the labels of a multi-label answer, and the spans or boxes of a span answer


@dataclass(frozen=True)
class Spec:
    kind: Kind
    labels: tuple[str, ...]
    data_field: str
    name: str
    max_rating: int = 5
    instructions: str | None = None

    @property
    def object_tag(self) -> str:
        return "Image" if self.kind == "bbox" else "Text"


def check_spec(spec: Spec) -> None:
    """Everything Label Studio would refuse, or silently mis-handle, refused here first."""
    problems = []
    for field, value in (("data_field", spec.data_field), ("name", spec.name)):
        if not IDENTIFIER.match(value):
            problems.append(f"{field} {value!r} must be a letter or _ followed by letters, digits or _ (at most 64)")
    if spec.data_field == spec.name:
        problems.append("name and data_field must differ: Label Studio tag names are unique")
    if spec.kind == "rating":
        if spec.labels:
            problems.append("a rating has no labels (use max_rating)")
        if not 2 <= spec.max_rating <= 100:
            problems.append("max_rating must be between 2 and 100")
    else:
        if len(spec.labels) < (1 if spec.kind in ("ner", "bbox") else 2):
            problems.append(f"{spec.kind} needs {'at least one label' if spec.kind in ('ner', 'bbox') else 'at least two labels'}")
        seen = set()
        for label in spec.labels:
            if not label.strip() or label != label.strip() or any(c in label for c in "\n\r\t"):
                problems.append(f"label {label!r} must be non-empty text without surrounding spaces or line breaks")
            if label in seen:
                problems.append(f"label {label!r} is listed twice")
            if SEPARATOR in label:
                problems.append(f"label {label!r} may not contain {SEPARATOR!r} (it joins multi-label answers)")
            seen.add(label)
    for field, text in (("instructions", spec.instructions or ""), *(("label", label) for label in spec.labels)):
        if NOT_XML.search(text):
            problems.append(f"{field} {text[:40]!r} holds a control character XML cannot carry")
    if problems:
        raise ToolError("invalid_input", "The labelling spec is not valid: " + "; ".join(problems) + ".",
                        'Example: {"kind": "classification", "labels": ["positive", "negative"], "data_field": "text"}.')


def render_config(spec: Spec) -> str:
    check_spec(spec)
    view = ET.Element("View")
    if spec.instructions:
        ET.SubElement(view, "Header", {"value": spec.instructions})
    ET.SubElement(view, spec.object_tag, {"name": spec.data_field, "value": f"${spec.data_field}"})
    attrs = {"name": spec.name, "toName": spec.data_field}
    if spec.kind == "rating":
        attrs["maxRating"] = str(spec.max_rating)
        ET.SubElement(view, "Rating", attrs)
    else:
        if spec.kind in ("classification", "multi_label"):
            attrs["choice"] = "single" if spec.kind == "classification" else "multiple"
            attrs["showInline"] = "true"
        control = ET.SubElement(view, CONTROL_TAG[spec.kind], attrs)
        child = "Choice" if spec.kind in ("classification", "multi_label") else "Label"
        for label in spec.labels:
            ET.SubElement(control, child, {"value": label})
    ET.indent(view)
    xml = ET.tostring(view, encoding="unicode")
    _check_rendered(xml, spec)
    return xml


def _check_rendered(xml: str, spec: Spec) -> None:
    """Parse the XML back: the tags, the binding and the labels must be what the spec says."""
    root = ET.fromstring(xml)
    control = root.find(CONTROL_TAG[spec.kind])
    target = root.find(spec.object_tag)
    assert control is not None and target is not None, xml
    assert control.get("toName") == target.get("name") == spec.data_field, xml
    assert tuple(c.get("value") for c in control) == spec.labels, xml


def spec_from_config(xml: str) -> Spec | None:
    """The spec a config was rendered from, when it has our shape (one control, one object)."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    for kind, tag in CONTROL_TAG.items():
        control = root.find(tag)
        if control is None:
            continue
        if tag == "Choices":
            kind = "multi_label" if control.get("choice") == "multiple" else "classification"
        labels = tuple(c.get("value") or "" for c in control)
        max_rating = int(control.get("maxRating") or 5) if tag == "Rating" else 5
        return Spec(kind, labels, control.get("toName") or "", control.get("name") or "", max_rating)  # type: ignore[arg-type]
    return None


# ---------------------------------------------------------------- annotation values


def value_of(result: list[dict[str, Any]], spec: Spec) -> str | int | None:
    """The answer one annotation gives the spec's question, as one comparable value:
    the class, the '|'-joined sorted classes, the rating, or the sorted spans/boxes
    (start-end:label; boxes rounded to whole percent of the image)."""
    items = [r for r in result if r.get("from_name") == spec.name and r.get("type", RESULT_TYPE[spec.kind]) == RESULT_TYPE[spec.kind]]
    if not items:
        return None
    if spec.kind == "rating":
        rating = items[0].get("value", {}).get("rating")
        return int(rating) if isinstance(rating, int | float) else None
    if spec.kind in ("classification", "multi_label"):
        choices = sorted({str(c) for r in items for c in r.get("value", {}).get("choices", [])})
        if not choices:
            return None
        return choices[0] if spec.kind == "classification" else SEPARATOR.join(choices)
    parts = []
    for r in items:
        v = r.get("value", {})
        for label in v.get(RESULT_TYPE[spec.kind], []):
            if spec.kind == "ner":
                parts.append(f"{v.get('start')}-{v.get('end')}:{label}")
            else:
                box = ",".join(str(round(float(v.get(k, 0)))) for k in ("x", "y", "width", "height"))
                parts.append(f"{box}:{label}")
    return SEPARATOR.join(sorted(parts)) if parts else None


def labels_in(value: str | int | None, spec: Spec) -> set[str]:
    """The labels a value mentions: per-label agreement compares "has this label" answers."""
    if value is None:
        return set()
    if spec.kind == "rating":
        return {str(value)}
    if spec.kind == "classification":
        return {str(value)}
    if spec.kind == "multi_label":
        return set(str(value).split(SEPARATOR))
    return {part.rsplit(":", 1)[1] for part in str(value).split(SEPARATOR)}


def prediction_result(spec: Spec, label: str) -> list[dict[str, Any]]:
    """A Label Studio prediction `result` choosing one class (classification) or a set (multi-label)."""
    choices = label.split(SEPARATOR) if spec.kind == "multi_label" else [label]
    return [{"from_name": spec.name, "to_name": spec.data_field, "type": "choices", "value": {"choices": choices}}]
