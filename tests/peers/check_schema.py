"""Validates JSON documents against a JSON Schema (draft 2020-12, formats checked).

usage: check_schema.py SCHEMA.json < documents (one JSON document per line)
Prints one line per document that does not validate, with the reason; exits 1 if any.
"""

import json
import sys

import jsonschema


def main():
    with open(sys.argv[1]) as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    bad = 0
    count = 0
    for line in sys.stdin:
        if not line.strip():
            continue
        count += 1
        doc = json.loads(line)
        for err in validator.iter_errors(doc):
            bad += 1
            path = "/".join(str(p) for p in err.absolute_path)
            print(f"document {count}: /{path}: {err.message}")
    print(f"{count} documents, {bad} errors")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
