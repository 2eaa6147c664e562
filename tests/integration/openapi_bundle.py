"""Bundles api/openapi.yaml and the files it $refs (api/paths/*.yaml, api/components/**.yaml) into
one self-contained OpenAPI document, the way sluice does it before serving it
(src/api/openapi_bundle.cc) and the way `redocly bundle` does it: a $ref to another file (with
an optional #/json/pointer) in a position of a component type (a schema, a response, a
parameter, a header, a request body, an example, a link, a callback, a security scheme) becomes
a component named after the pointer's last segment (the file's base name when there is none)
and the $ref points at it (#/components/schemas/Error); any other external $ref (a path item)
is replaced by what it points to, its sibling members kept. A cycle of $refs, a missing file
or pointer, a $ref out of api/ or to a URL, and two components of one name are errors.

Example:
    doc = bundle_dir(REPO / "api")          # what GET /api/v1/openapi.json must answer
    assert ref_problems(doc) == []"""

import posixpath
from pathlib import Path
from urllib.parse import unquote

import yaml

# The type of the members of a map type / of the items of a list type.
MAPS = {"Paths": "PathItem", "Responses": "Response", "Content": "MediaType",
        "Headers": "Header", "Schemas": "Schema", "Examples": "Example", "Encodings": "Encoding",
        "Links": "Link", "Callbacks": "Callback", "Callback": "PathItem", "PathItems": "PathItem",
        "Parameters": "Parameter", "RequestBodies": "RequestBody",
        "SecuritySchemes": "SecurityScheme"}
LISTS = {"ParameterList": "Parameter", "SchemaList": "Schema"}
_PARAMETER = {"schema": "Schema", "content": "Content", "examples": "Examples"}
_SCHEMA = {**{k: "Schemas" for k in ("properties", "patternProperties", "dependentSchemas",
                                      "$defs", "definitions")},
           **{k: "SchemaList" for k in ("allOf", "anyOf", "oneOf", "prefixItems")},
           **{k: "Schema" for k in ("not", "if", "then", "else", "contains", "propertyNames",
                                    "contentSchema", "items", "additionalProperties",
                                    "unevaluatedItems", "unevaluatedProperties")}}
FIELDS = {
    "Root": {"paths": "Paths", "webhooks": "PathItems", "components": "Components"},
    "Components": {"schemas": "Schemas", "responses": "Responses", "parameters": "Parameters",
                   "examples": "Examples", "requestBodies": "RequestBodies",
                   "headers": "Headers", "securitySchemes": "SecuritySchemes", "links": "Links",
                   "callbacks": "Callbacks", "pathItems": "PathItems"},
    "PathItem": {**{m: "Operation" for m in ("get", "put", "post", "delete", "options", "head",
                                            "patch", "trace")},
                 "parameters": "ParameterList"},
    "Operation": {"parameters": "ParameterList", "requestBody": "RequestBody",
                  "responses": "Responses", "callbacks": "Callbacks"},
    "Parameter": _PARAMETER,
    "Header": _PARAMETER,
    "RequestBody": {"content": "Content"},
    "Response": {"headers": "Headers", "content": "Content", "links": "Links"},
    "MediaType": {"schema": "Schema", "examples": "Examples", "encoding": "Encodings"},
    "Encoding": {"headers": "Headers"},
    "Schema": _SCHEMA,
}
# Members that hold data, not document: never searched for $refs.
DATA = {"Schema": {"example", "examples", "const", "default", "enum"}, "Example": {"value"},
        "MediaType": {"example"}, "Parameter": {"example"}, "Header": {"example"}}
COMPONENT = {"Schema": "schemas", "Parameter": "parameters", "Response": "responses",
             "Example": "examples", "RequestBody": "requestBodies", "Header": "headers",
             "SecurityScheme": "securitySchemes", "Link": "links", "Callback": "callbacks"}


class BundleError(Exception):
    pass


def child_kind(kind, key):
    if kind in MAPS:
        return MAPS[kind]
    if kind in LISTS:
        return LISTS[kind]
    return FIELDS.get(kind, {}).get(key, "Other")


def escape(segment):
    return segment.replace("~", "~0").replace("/", "~1")


def resolve_pointer(doc, pointer, where):
    node = doc
    for part in pointer.split("/")[1:] if pointer else []:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise BundleError(f"{where}: no {pointer!r} in it")
    return node


class Bundler:
    def __init__(self, files, root="openapi.yaml"):
        self.files, self.root = files, root
        self.components = {}  # section -> {name: node}, in the order they were met
        self.names = {}  # (file, pointer) -> internal $ref
        self.owner = {}  # (section, name) -> (file, pointer)

    def bundle(self):
        if self.root not in self.files:
            raise BundleError(f"no file {self.root}")
        root = self.files[self.root]
        for section, members in ((root.get("components") or {}).items()):
            for name in members or {}:
                self.owner[(section, name)] = (self.root, f"/components/{section}/{escape(name)}")
        out = self.walk(root, "Root", self.root, ())
        if self.components:
            comps = out.setdefault("components", {})
            for section, members in self.components.items():
                comps.setdefault(section, {}).update(members)
        return out

    def walk(self, node, kind, file, stack):
        if isinstance(node, list):
            return [self.walk(v, child_kind(kind, i), file, stack) for i, v in enumerate(node)]
        if not isinstance(node, dict):
            return node
        if isinstance(node.get("$ref"), str):
            return self.ref(node, kind, file, stack)
        return self.members(node, kind, file, stack)

    def members(self, node, kind, file, stack):
        data = DATA.get(kind, set())
        return {k: v if k in data else self.walk(v, child_kind(kind, k), file, stack)
                for k, v in node.items() if k != "$ref"}

    def target(self, ref, file):
        part, _, fragment = ref.partition("#")
        pointer = unquote(fragment)
        if pointer and not pointer.startswith("/"):
            raise BundleError(f"{file}: $ref {ref!r}: the fragment is not a JSON pointer")
        if not part:
            return file, pointer
        if "://" in part or part.startswith("/"):
            raise BundleError(f"{file}: $ref {ref!r}: only files relative to it are bundled")
        name = posixpath.normpath(posixpath.join(posixpath.dirname(file), unquote(part)))
        if name.startswith("../") or name == "..":
            raise BundleError(f"{file}: $ref {ref!r} leaves the folder of {self.root}")
        if name not in self.files:
            raise BundleError(f"{file}: $ref {ref!r}: no file {name}")
        return name, pointer

    def ref(self, node, kind, file, stack):
        target_file, pointer = self.target(node["$ref"], file)
        siblings = self.members(node, kind, file, stack)
        if target_file == self.root:  # into the root: the bundle keeps its members in place
            resolve_pointer(self.files[self.root], pointer, f"{file}: $ref {node['$ref']!r}")
            return {"$ref": "#" + pointer, **siblings}
        key = (target_file, pointer)
        if key in stack:
            chain = " -> ".join(f"{f}#{p}" for f, p in stack[stack.index(key):] + (key,))
            raise BundleError(f"a cycle of $refs: {chain}")
        target = resolve_pointer(self.files[target_file], pointer,
                                 f"{file}: $ref {node['$ref']!r}")
        section = COMPONENT.get(kind)
        if section is None:  # not a component: in its place
            resolved = self.walk(target, kind, target_file, stack + (key,))
            return {**resolved, **siblings} if isinstance(resolved, dict) else resolved
        if key not in self.names:
            segments = [s for s in pointer.split("/") if s]
            name = (segments[-1].replace("~1", "/").replace("~0", "~") if segments
                    else posixpath.splitext(posixpath.basename(target_file))[0])
            other = self.owner.get((section, name))
            if other is not None and other != key:
                raise BundleError(f"two {section} named {name!r}: {other[0]}#{other[1]} and "
                                  f"{target_file}#{pointer}")
            self.owner[(section, name)] = key
            self.names[key] = f"#/components/{section}/{escape(name)}"
            members = self.components.setdefault(section, {})
            members[name] = None  # its place in the order
            members[name] = self.walk(target, kind, target_file, stack + (key,))
        return {"$ref": self.names[key], **siblings}


def load_dir(api_dir):
    """{name relative to api_dir: parsed YAML} of every api_dir/**/*.yaml."""
    api_dir = Path(api_dir)
    return {p.relative_to(api_dir).as_posix(): yaml.safe_load(p.read_text(encoding="utf-8"))
            for p in sorted(api_dir.rglob("*.yaml"))}


def bundle_dir(api_dir, root="openapi.yaml"):
    return Bundler(load_dir(api_dir), root).bundle()


def ref_problems(doc):
    """Every $ref of the OpenAPI document doc (data such as examples aside) that is not internal
    or does not resolve."""
    problems = []

    def visit(node, kind, at):
        if isinstance(node, list):
            for i, v in enumerate(node):
                visit(v, child_kind(kind, i), f"{at}/{i}")
        elif isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                if not ref.startswith("#"):
                    problems.append(f"{at}: external $ref {ref!r}")
                else:
                    try:
                        resolve_pointer(doc, unquote(ref[1:]), at)
                    except BundleError:
                        problems.append(f"{at}: $ref {ref!r} does not resolve")
            data = DATA.get(kind, set())
            for k, v in node.items():
                if k not in data:
                    visit(v, child_kind(kind, k), f"{at}/{escape(k)}")

    visit(doc, "Root", "")
    return problems
