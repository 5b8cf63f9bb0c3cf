"""JSON schemas served at /v2/schemas/image and /v2/schemas/images.

python-glanceclient builds its image model (warlock) and its CLI arguments
from the image schema, so every base property carries a type and a
description; extra properties are strings.
"""

from glancelet import domain


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
                 "items": {"type": "string", "maxLength": 255}},
        "direct_url": {"type": "string", "readOnly": True,
                       "description": "URL to access the image file kept in external "
                                      "store"},
        "min_ram": {"type": "integer",
                    "description": "Amount of ram (in MB) required to boot image."},
        "min_disk": {"type": "integer",
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
        "additionalProperties": {"type": "string"},
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "enclosure", "href": "{file}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }


def images_schema():
    return {
        "name": "images",
        "properties": {
            "images": {"type": "array", "items": image_schema()},
            "schema": {"type": "string"},
            "first": {"type": "string"},
            "next": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }
