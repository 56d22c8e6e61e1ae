"""functions/openapi.json describes exactly the HTTP routes and methods the app
registers (both ways), is a valid OpenAPI 3.1 document, and its request-body schemas
refuse unknown fields as the parsers do."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
from openapi_spec_validator import validate

import function_app
from functions.api_openapi import OPENAPI_FILE

METHODS = {"get", "post", "put", "patch", "delete", "head", "options"}


def _document() -> dict:
    return json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))


def _registered() -> set[tuple[str, str]]:
    """(path, method) of every HTTP function of a freshly indexed app, as the worker
    indexes it; a catch-all ``{*blob}`` is written ``{blob}`` in OpenAPI."""
    found = set()
    for function in function_app.create_app().get_functions():
        trigger = function.get_trigger()
        if trigger is None or trigger.get_binding_name() != "httpTrigger":
            continue
        binding = trigger.get_dict_repr()
        route = re.sub(r"\{\*?([A-Za-z_][A-Za-z0-9_]*)[^}]*\}", r"{\1}", binding["route"])
        for method in binding["methods"]:
            found.add((f"/{route}", str(getattr(method, "value", method)).lower()))
    return found


def _described() -> set[tuple[str, str]]:
    return {
        (path, method)
        for path, item in _document()["paths"].items()
        for method in item
        if method in METHODS
    }


def test_every_registered_route_is_described():
    missing = sorted(_registered() - _described())
    assert missing == [], f"add these to functions/openapi.json: {missing}"


def test_every_described_route_is_registered():
    extra = sorted(_described() - _registered())
    assert extra == [], f"functions/openapi.json describes routes the app lacks: {extra}"


def test_the_document_is_valid_openapi_3_1():
    document = _document()
    assert document["openapi"].startswith("3.1")
    validate(document)  # raises on an invalid document


def test_operation_ids_are_the_function_names():
    names = {str(f.get_function_name()) for f in function_app.create_app().get_functions()}
    ids = [
        op["operationId"]
        for item in _document()["paths"].values()
        for method, op in item.items()
        if method in METHODS
    ]
    assert len(ids) == len(set(ids)) and set(ids) <= names


def _body_schema(name: str) -> dict:
    document = _document()
    return {**document["components"]["schemas"][name], "components": document["components"]}


@pytest.mark.parametrize(
    ("schema", "good"),
    [
        ("VersionChangeBody", {"version": "v3", "reason": "r", "requested_by": "a"}),
        ("PinBody", {"reason": "r", "by": "a"}),
        ("ReleaseBody", {"blob": "co2/a.csv", "reason": "r", "requested_by": "a"}),
        ("ActionBody", {"reason": "r", "requested_by": "a"}),
        ("RetrainBody", {"force": True}),
        ("FamilyActionBody", {"series": "a", "version": 3, "reason": "r", "requested_by": "a"}),
    ],
)
def test_body_schemas_accept_what_the_parsers_take_and_refuse_unknown_fields(schema, good):
    validator = jsonschema.Draft202012Validator(_body_schema(schema))
    validator.validate(good)
    with pytest.raises(jsonschema.ValidationError, match="resaon"):
        validator.validate({**good, "resaon": "typo"})


def test_a_series_answer_and_its_history_cursor_fit_the_described_shapes():
    from shared.service.family_ops import get_series
    from tests.family.history_world import counted_world, run_year
    from tests.family.service_world import MODEL

    world = counted_world()
    for year in (2002, 2003):
        run_year(world, year)
    page = get_series(world.service.context, MODEL, "a", limit=1)
    jsonschema.Draft202012Validator(_body_schema("SeriesDetail")).validate(page)
    [before] = [
        p["schema"]
        for p in _document()["paths"]["/models/{model}/series/{series}"]["get"]["parameters"]
        if p["name"] == "before"
    ]
    jsonschema.Draft202012Validator(before).validate(page["history_before"])
