"""JSON schemas served at /v2/schemas/image(s) and /v2/schemas/member(s).

python-glanceclient builds its image model (warlock) and its CLI arguments
from the image schema, so every base property carries a type and a
description; extra properties are strings.

The API validates request values against the very schema it serves
(:func:`conforms`), so a client that checks the schema and the server agree.
"""

import re

from glancelet import domain

# The largest integer SQLite stores.
MAX_INTEGER = 2 ** 63 - 1
MAX_EXTRA_VALUE = 65535


def _nullable(kind, description, **extra):
    prop = {"type": ["null", kind], "description": description}
    prop.update(extra)
    return prop


def image_schema():
    properties = {
        "id": {"type": "string", "description": "An identifier for the image",
               "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}"
                          "-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"},
        "name": _nullable("string", "Descriptive name for the image", maxLength=255),
        "status": {"type": "string", "readOnly": True,
                   "description": "Status of the image",
                   "enum": list(domain.STATUSES)},
        "visibility": {"type": "string", "description": "Scope of image accessibility",
                       "enum": list(domain.VISIBILITIES)},
        "protected": {"type": "boolean",
                      "description": "If true, image will not be deletable."},
        "os_hidden": {"type": "boolean",
                      "description": "If true, image will not appear in default image "
                                     "list response."},
        "checksum": _nullable("string", "md5 hash of image contents.", readOnly=True,
                              maxLength=32),
        "os_hash_algo": _nullable("string", "Algorithm to calculate the os_hash_value",
                                  readOnly=True, maxLength=64),
        "os_hash_value": _nullable("string", "Hexdigest of the image contents using the "
                                   "algorithm specified by the os_hash_algo",
                                   readOnly=True, maxLength=128),
        "owner": _nullable("string", "Owner of the image", maxLength=255),
        "size": _nullable("integer", "Size of image file in bytes", readOnly=True),
        "virtual_size": _nullable("integer", "Virtual size of image in bytes",
                                  readOnly=True),
        "container_format": {"type": ["null", "string"],
                             "description": "Format of the container",
                             "enum": [None] + list(domain.CONTAINER_FORMATS)},
        "disk_format": {"type": ["null", "string"], "description": "Format of the disk",
                        "enum": [None] + list(domain.DISK_FORMATS)},
        "created_at": {"type": "string", "readOnly": True,
                       "description": "Date and time of image registration"},
        "updated_at": {"type": "string", "readOnly": True,
                       "description": "Date and time of the last image modification"},
        "tags": {"type": "array", "description": "List of strings related to the image",
                 "items": {"type": "string", "minLength": 1, "maxLength": 255}},
        "direct_url": {"type": "string", "readOnly": True,
                       "description": "URL to access the image file kept in external "
                                      "store"},
        "min_ram": {"type": "integer", "minimum": 0, "maximum": MAX_INTEGER,
                    "description": "Amount of ram (in MB) required to boot image."},
        "min_disk": {"type": "integer", "minimum": 0, "maximum": MAX_INTEGER,
                     "description": "Amount of disk space (in GB) required to boot image."},
        "self": {"type": "string", "readOnly": True,
                 "description": "An image self url"},
        "file": {"type": "string", "readOnly": True,
                 "description": "An image file url"},
        "schema": {"type": "string", "readOnly": True,
                   "description": "An image schema url"},
        "locations": {"type": "array", "readOnly": True,
                      "description": "A set of URLs to access the image file kept in "
                                     "external store",
                      "items": {"type": "object"}},
        "stores": {"type": "string", "readOnly": True,
                   "description": "Store in which image data resides."},
    }
    return {
        "name": "image",
        "properties": properties,
        "additionalProperties": {"type": "string", "maxLength": MAX_EXTRA_VALUE},
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "enclosure", "href": "{file}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }


def _collection(name, item, paged):
    """The schema of a list of ``item``; ``paged`` adds Glance's first/next links."""
    properties = {name: {"type": "array", "items": item}, "schema": {"type": "string"}}
    links = [{"rel": "describedby", "href": "{schema}"}]
    if paged:
        properties.update(first={"type": "string"}, next={"type": "string"})
        links[:0] = [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"}]
    return {"name": name, "properties": properties, "links": links}


def images_schema():
    return _collection("images", image_schema(), paged=True)


def member_schema():
    uuid_pattern = image_schema()["properties"]["id"]["pattern"]
    return {
        "name": "member",
        "properties": {
            "member_id": {"type": "string",
                          "description": "An identifier for the image member (tenantId)"},
            "image_id": {"type": "string", "description": "An identifier for the image",
                         "pattern": uuid_pattern},
            "created_at": {"type": "string",
                           "description": "Date and time of image member creation"},
            "updated_at": {"type": "string", "description": "Date and time of last "
                           "modification of image member"},
            "status": {"type": "string", "description": "The status of this image member",
                       "enum": ["pending", "accepted", "rejected"]},
            "schema": {"readOnly": True, "type": "string"},
        },
    }


def members_schema():
    return _collection("members", member_schema(), paged=False)


# -- Validation: the subset of JSON Schema that these schemas use -------------

_TYPES = {"string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
          "null": (type(None),), "array": (list,), "object": (dict,)}


def _types(schema):
    kinds = schema.get("type", [])
    return [kinds] if isinstance(kinds, str) else list(kinds)


def _is(kind, value):
    if isinstance(value, bool) and kind != "boolean":
        return False
    return isinstance(value, _TYPES[kind])


def conforms(schema, value):
    """True if ``value`` is valid for ``schema``."""
    kinds = _types(schema)
    if kinds and not any(_is(kind, value) for kind in kinds):
        return False
    if "enum" in schema and not any(_is(_json_type(v), value) and v == value
                                    for v in schema["enum"]):
        return False
    if isinstance(value, str):
        if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value)):
            return False
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not schema.get("minimum", value) <= value <= schema.get("maximum", value):
            return False
    if isinstance(value, list) and "items" in schema:
        return all(conforms(schema["items"], item) for item in value)
    return True


def _json_type(value):
    for kind in ("boolean", "null", "string", "integer", "number", "array", "object"):
        if _is(kind, value):
            return kind
    return None


def describe(schema, plural=False):
    """What ``schema`` accepts, in words: "a string of at most 255 characters or null"
    (or "strings of at most 255 characters" when ``plural``)."""
    if "enum" in schema:
        return "one of " + ", ".join("null" if v is None else str(v) for v in schema["enum"])
    kinds = _types(schema)
    words = [_describe_type(kind, schema) for kind in kinds if kind != "null"]
    if plural:
        words = [_NOUN.sub(r"\1s", text, count=1) for text in words]
    if "null" in kinds:
        words.append("null")
    return " or ".join(words) or "anything"


_NOUN = re.compile(r"^an? (.*?\b(?:string|integer|boolean|list|object|number))\b")


def _describe_type(kind, schema):
    if kind == "string" and "maxLength" in schema:
        if schema.get("minLength"):
            return "a string of %d to %d characters" % (schema["minLength"],
                                                        schema["maxLength"])
        return "a string of at most %d characters" % schema["maxLength"]
    if kind == "integer" and ("minimum" in schema or "maximum" in schema):
        text = "a non-negative integer" if schema.get("minimum") == 0 else "an integer"
        return text + (" of at most %d" % schema["maximum"] if "maximum" in schema else "")
    if kind == "array":
        return "a list of %s" % describe(schema.get("items", {}), plural=True)
    return {"integer": "an integer", "object": "an object"}.get(kind, "a " + kind)
