"""The types of the kept JSON fields of a .jsonl corpus: the first rows fix each field's pyarrow type, and
a later value must fit it as it is (:func:`fits`), or its row is bad. Used by :class:`carl.scoring.sources.Source`."""

from __future__ import annotations

import json

import pyarrow as pa

ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError, TypeError,
                ValueError)


def same(stored, value) -> bool:
    """Equal, counting NaN as equal to NaN."""
    return stored == value or (isinstance(value, float) and value != value and stored != stored)  # NaN


def fits(value, kind: pa.DataType) -> bool:
    """``value`` is stored in a column of ``kind`` as it is (pyarrow would also cut 2.5 to 2 in an int64
    column, or drop an object's unknown keys in a struct column: checked by reading it back)."""
    if value is None:
        return True
    try:
        return same(pa.array([value], type=kind).to_pylist()[0], value)
    except ARROW_ERRORS:
        return False


def column_fits(values: list, kind: pa.DataType) -> bool:
    try:
        return pa.array(values, type=kind).to_pylist() == values
    except ARROW_ERRORS:
        return False


def infer(values: list) -> pa.DataType:
    """pyarrow's type for the values; where they mix types, the first value's; string if neither works."""
    for sample in (values, [next((v for v in values if v is not None), None)]):
        try:
            return pa.array(sample).type
        except ARROW_ERRORS:
            continue
    return pa.string()


def json_kind(value) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)


def shown(value) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."
