"""``docs/api-reference.md``, generated from the app's OpenAPI document so that it cannot drift.

``python -m interop_hub.docs.api_reference`` rewrites the file; ``--check`` exits 1 when the
committed file differs from what the code generates (the test suite runs the check). The app is
built on a throw-away in-memory hub: the document does not depend on the database.

Every operation of the spec's table (``spec/ENDPOINTS.md``, below as :data:`SPEC`) is listed:
those the hub serves under their operation, with the spec's number, and the others in a final
section as not served yet.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interop_hub.app import create_app
from interop_hub.kit.settings import Settings
from interop_hub.runtime import build_hub

DEFAULT_OUTPUT = Path(__file__).resolve().parents[3] / "docs" / "api-reference.md"
METHODS = ("get", "put", "post", "patch", "delete")
THROWAWAY_SECRET = "api-reference-throwaway-secret-0123456789"  # noqa: S105 - in-memory hub

SPEC = """\
1 GET /v2/interop/actors List Actors
2 GET /v2/interop/clouds List Interop Clouds
3 POST /v2/interop/clouds Create an Interop Cloud
4 GET /v2/interop/clouds/search Search Interop Clouds (generation, userdata, name)
5 GET /v2/interop/clouds/{id} Find an Interop Cloud
6 DELETE /v2/interop/clouds/{id} Delete an Interop Cloud
7 GET /v2/interop/clouds/{id}/actors List all Actors in an Interop Cloud (include_credentials)
8 GET /v2/interop/integrations List Integrations (name)
9 POST /v2/interop/integrations Create Integration
10 GET /v2/interop/integrations/{id}/versions List Integration Versions
11 POST /v2/interop/integrations/{id}/versions Create Integration Version (blueprint, XML)
12 PATCH /v2/interop/integrations/{id}/versions/{version} Update Integration Version
13 DELETE /v2/interop/integrations/{id}/versions/{version} Delete Integration Version
14 PUT /v2/interop/integrations/{id}/versions/{version}/blueprint Update Integration Blueprint
15 GET /v2/interop/integrations/{id} Find an Integration
16 PATCH /v2/interop/integrations/{id} Update Integration
17 DELETE /v2/interop/integrations/{id} Delete an Integration
18 GET /v2/interop/tenants List Interop Tenants (accounts[], integration[] / integrations[])
19 GET /v2/interop/tenants/{id} Find Interop Tenant
20 GET /v2/interop/tenant Find Interop Tenant by actor authentication credentials
21 GET /v2/interop/tenant/state Get tenant state by actor authentication credentials
22 GET /v2/interop/tenant/scoping/schools List Scoping Schools
23 POST /v2/interop/tenant/scoping/schools Create Scoping Schools (replace, default true)
24 DELETE /v2/interop/tenant/scoping/schools Delete Scoping Schools
25 GET /v2/interop/tenant/scoping/schools/{id} Find Scoping School
26 PUT /v2/interop/tenant/scoping/schools/{id} Update Scoping School
27 DELETE /v2/interop/tenant/scoping/schools/{id} Delete Scoping School
28 GET /v2/interop/tenant/scoping/courses List Scoping Courses
29 POST /v2/interop/tenant/scoping/courses Create Scoping Courses (replace, default true)
30 DELETE /v2/interop/tenant/scoping/courses Delete Scoping Courses
31 GET /v2/interop/tenant/scoping/courses/{id} Find Scoping Course
32 PUT /v2/interop/tenant/scoping/courses/{id} Update Scoping Course
33 DELETE /v2/interop/tenant/scoping/courses/{id} Delete Scoping Course
34 GET /v2/interop/tenant/application Get Tenant Application
35 PATCH /v2/interop/tenant/application Update Tenant Application (auth setup workflow)
36 GET /v2/interop/tenant/rollovers List Rollovers (sort, e.g. -name)
37 POST /v2/interop/tenant/rollovers Create a rollover (201; 409 on overlap or conflict)
38 GET /v2/interop/tenant/rollovers/count Count Rollovers
39 GET /v2/interop/tenant/rollovers/{id} Get a Rollover
40 PUT /v2/interop/tenant/rollovers/{id} Update a rollover (409 on overlap or conflict)
41 DELETE /v2/interop/tenant/rollovers/{id} Delete a rollover (409 when it is active)
42 GET /v2/interop/tenant/schedules List Schedules
43 POST /v2/interop/tenant/schedules Create a collection Schedule (201; 409 on overlap)
44 POST /v2/interop/tenant/schedules/{id}/run Run a schedule (204; 400 or 409 when not run)
45 GET /v2/interop/tenant/schedules/count Count Schedules
46 GET /v2/interop/tenant/schedules/{id} Find a Schedule by id
47 PATCH /v2/interop/tenant/schedules/{id} Update Schedule (only `enabled`)
48 DELETE /v2/interop/tenant/schedules/{id} Delete Schedule
49 GET /v2/interop/ingestions List Ingestions
50 GET /v2/interop/ingestions/count Count Ingestions
51 GET /v2/interop/ingestions/{id} Find an Ingestion by id
52 GET /v2/interop/data/tasks List Tasks: the actor's next batch
53 PUT /v2/interop/data/tasks/{id}/ack Acknowledge Task
54 PUT /v2/interop/data/tasks/ack Acknowledge Tasks (array body)
55 GET /v2/interop/data/tasks/admin List Tasks (Admin) (schema, driver)
56 PUT /v2/interop/data/tasks/admin/{id}/ack Acknowledge Task (Admin)
57 PUT /v2/interop/data/tasks/admin/ack Acknowledge Tasks (Admin)
58 GET /v2/interop/data/tasks/admin/{id} Find a Task
59 DELETE /v2/interop/data/tasks/admin/{id} Delete Task (Admin)
60 GET /v2/interop/data/rostering/orgs List all Orgs
61 GET /v2/interop/data/rostering/leas List all LEA-type Orgs
62 GET /v2/interop/data/rostering/schools List all School-type Orgs
63 GET /v2/interop/data/rostering/orgs/{id} Find an Org by $sys.id
64 GET /v2/interop/data/rostering/orgs/{id}/students List Students that are members of an Org
65 GET /v2/interop/data/rostering/orgs/{id}/teachers List Teachers that are members of an Org
66 GET /v2/interop/data/rostering/orgs/{id}/courses List Courses that belong to an Org
67 GET /v2/interop/data/rostering/orgs/{id}/sections List Sections that belong to an Org
68 GET /v2/interop/data/rostering/orgs/{id}/terms List Terms that belong to an Org
69 GET /v2/interop/data/rostering/leas/{id} Find an LEA-type Org by $sys.id
70 GET /v2/interop/data/rostering/persons Get all Persons
71 GET /v2/interop/data/rostering/students List all Student-type Persons
72 GET /v2/interop/data/rostering/teachers List all Teacher-type Persons
73 GET /v2/interop/data/rostering/persons/{id} Find a Person by $sys.id
74 GET /v2/interop/data/rostering/courses List all Courses
75 GET /v2/interop/data/rostering/courses/{id} Find a Course by $sys.id
76 GET /v2/interop/data/rostering/sections List all Sections
77 GET /v2/interop/data/rostering/sections/{id} Find a Section by $sys.id
78 GET /v2/interop/data/rostering/terms List all Terms
79 GET /v2/interop/data/rostering/terms/{id} Find a Term by $sys.id
80 GET /v2/interop/data/grades/gradingCategories List all Grading Categories
"""
"""The 80 operations of ``spec/ENDPOINTS.md``: number, method, path, title."""


@dataclass(frozen=True)
class SpecOperation:
    number: int
    method: str
    path: str
    title: str


def spec_operations() -> list[SpecOperation]:
    found = []
    for line in SPEC.splitlines():
        number, method, path, title = line.split(" ", 3)
        found.append(SpecOperation(int(number), method, path, title))
    return found


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of an app built on a throw-away in-memory hub."""
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(
            database_url="sqlite://", secret_key=THROWAWAY_SECRET, data_dir=Path(data_dir)
        )
        hub = build_hub(settings)
        try:
            return create_app(hub).openapi()
        finally:
            hub.engine.dispose()


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def type_of(schema: dict[str, Any]) -> str:
    """A schema as a short type: ``integer``, ``string | null``, ``list[CloudOut]``, ..."""
    if "$ref" in schema:
        return _ref_name(schema["$ref"])
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            return " | ".join(type_of(part) for part in schema[combinator])
    if "allOf" in schema:
        return " & ".join(type_of(part) for part in schema["allOf"])
    if "enum" in schema:
        return " | ".join(f"`{value}`" for value in schema["enum"])
    kind = schema.get("type")
    if kind == "array":
        return f"list[{type_of(schema.get('items', {}))}]"
    if kind == "object" and "properties" in schema:
        fields = ", ".join(
            f"{name}: {type_of(part)}" for name, part in schema["properties"].items()
        )
        return f"object {{{fields}}}"
    if isinstance(kind, str):
        fmt = schema.get("format")
        return f"{kind} ({fmt})" if fmt else kind
    return "any"


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _parameters(operation: dict[str, Any]) -> Iterator[str]:
    parameters = operation.get("parameters", [])
    if not parameters:
        return
    yield "Parameters:"
    yield ""
    yield "| name | in | type | required | description |"
    yield "|---|---|---|---|---|"
    for p in parameters:
        schema = p.get("schema", {})
        description = p.get("description") or schema.get("description") or ""
        if "default" in schema:
            description = f"{description} (default `{schema['default']}`)".strip()
        required = "yes" if p.get("required") else "no"
        row = (p["name"], p["in"], type_of(schema), required, description)
        yield (
            "| "
            + " | ".join(f"`{_cell(c)}`" if i == 0 else _cell(c) for i, c in enumerate(row))
            + " |"
        )
    yield ""


def _request_body(operation: dict[str, Any]) -> Iterator[str]:
    body = operation.get("requestBody")
    if body is None:
        return
    required = " (required)" if body.get("required") else ""
    kinds = [
        f"`{media}`: {_cell(type_of(content.get('schema', {})))}"
        for media, content in body.get("content", {}).items()
    ]
    yield f"Request body{required}: " + "; ".join(kinds)
    yield ""


def _responses(operation: dict[str, Any]) -> Iterator[str]:
    yield "| status | description | body |"
    yield "|---|---|---|"
    for status, response in sorted(operation.get("responses", {}).items()):
        bodies = [_cell(type_of(c.get("schema", {}))) for c in response.get("content", {}).values()]
        yield f"| {status} | {_cell(response.get('description', ''))} | {', '.join(bodies)} |"
    yield ""


def _security(document: dict[str, Any]) -> Iterator[str]:
    yield "## Security schemes"
    yield ""
    public = [
        f"`{method.upper()} {path}`"
        for path, item in document.get("paths", {}).items()
        for method in METHODS
        if method in item and "security" not in item[method]
    ]
    yield f"Every operation accepts either scheme, except {', '.join(public)}: no credentials."
    yield ""
    schemes = document.get("components", {}).get("securitySchemes", {})
    for name, scheme in schemes.items():
        line = f"- **{name}**: `{scheme['type']}`"
        if scheme.get("scheme"):
            line += f", scheme `{scheme['scheme']}`"
        for flow, detail in scheme.get("flows", {}).items():
            line += f", flow `{flow}` (token URL `{detail['tokenUrl']}`)"
        if scheme.get("description"):
            line += f": {scheme['description']}"
        yield line
    yield ""


def _anchor(operation_id: str) -> str:
    return operation_id.lower()


def render(document: dict[str, Any]) -> str:
    """The whole reference as Markdown."""
    served: dict[tuple[str, str], int] = {}
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                operation = item[method]
                tag = (operation.get("tags") or ["Other"])[0]
                by_tag.setdefault(tag, []).append((method.upper(), path, operation))
    spec = spec_operations()
    numbers = {(s.method, s.path): s.number for s in spec}
    lines = [
        "# API reference",
        "",
        "<!-- Generated by `python -m interop_hub.docs.api_reference` from the app's OpenAPI",
        "     document; do not edit by hand (the test suite fails when this file is stale). -->",
        "",
        f"{document['info']['title']} {document['info']['version']}. "
        + " ".join(document["info"].get("description", "").split()),
        "",
        "Operations are grouped by tag. `#n` is the operation's number in the spec's table of",
        "the 80 operations of the Interop API and the Interop Data API; the operations of that",
        "table the hub does not serve yet are listed at the end. The live document is served",
        "at `/openapi.json` (and browsable at `/docs`).",
        "",
        "## Contents",
        "",
    ]
    tags = sorted(by_tag)
    for tag in tags:
        lines.append(f"- {tag} ({len(by_tag[tag])})")
    lines.append("- Not served yet")
    lines.append("- Security schemes")
    lines.append("")
    for tag in tags:
        lines += [f"## {tag}", ""]
        for method, path, operation in sorted(
            by_tag[tag], key=lambda o: (o[1], METHODS.index(o[0].lower()))
        ):
            number = numbers.get((method, path))
            if number is not None:
                served[(method, path)] = number
            label = f" (#{number})" if number is not None else ""
            lines += [f"### `{method} {path}`{label}", ""]
            summary = _cell(operation.get("summary", ""))
            lines.append(f"Operation id `{operation.get('operationId', '')}`: {summary}")
            lines.append("")
            if operation.get("description"):
                lines += [" ".join(operation["description"].split()), ""]
            lines += list(_parameters(operation))
            lines += list(_request_body(operation))
            lines += list(_responses(operation))
    missing = [s for s in spec if (s.method, s.path) not in served]
    lines += ["## Not served yet", ""]
    if missing:
        lines += [
            "The operations of the spec's table the hub does not serve yet (requests get a 404):",
            "",
            "| # | method | path | operation |",
            "|---|---|---|---|",
        ]
        lines += [f"| {s.number} | {s.method} | `{s.path}` | {_cell(s.title)} |" for s in missing]
    else:
        lines.append("None: the hub serves all 80 operations of the spec's table.")
    lines.append("")
    lines += list(_security(document))
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the file to write")
    args = parser.parse_args(argv)
    text = render(openapi_document())
    output: Path = args.output
    if args.check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != text:
            print(
                f"{output} is stale: run `python -m interop_hub.docs.api_reference`.",
                file=sys.stderr,
            )
            return 1
        return 0
    output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
