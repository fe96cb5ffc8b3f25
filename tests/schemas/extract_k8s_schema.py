#!/usr/bin/env python3
"""Regenerates the strict Kubernetes schemas here from the kubernetes-validate wheel.

The core Kubernetes types pipec emits (Service, Ingress, and the Deployments an ephemeral
environment deploys) are not in ../shared/argo/crds, so the schema test validates them against the
official Kubernetes OpenAPI, as converted to strict JSON Schema (additionalProperties: false)
by the kubernetes-validate project (Apache-2.0).

    pip download kubernetes-validate==1.37.0 --no-deps -d /tmp/kv
    python3 tests/schemas/extract_k8s_schema.py /tmp/kv/kubernetes_validate-1.37.0-py3-none-any.whl

For each kind, only the definitions it reaches are kept, inlined under `$defs`, so each file
is self-contained.
"""
import json
import sys
import zipfile

VERSION = "v1.33.0-local-strict"
ROOT = f"kubernetes_validate/kubernetes-json-schema/{VERSION}"
KINDS = {
    "service": "service-v1.json",
    "deployment": "deployment-apps-v1.json",
    "ingress": "ingress-networking-v1.json",
}


def extract(z, defs, source):
    schema = json.loads(z.read(f"{ROOT}/{source}"))
    keep = {}

    def walk(node):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and "#/$defs/" in ref:
                name = ref.split("#/$defs/")[1]
                node["$ref"] = f"#/$defs/{name}"
                if name not in keep:
                    keep[name] = defs[name]
                    walk(keep[name])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    schema["$defs"] = dict(sorted(keep.items()))
    return schema, len(keep)


def main(wheel):
    z = zipfile.ZipFile(wheel)
    defs = json.loads(z.read(f"{ROOT}/_definitions.json"))["$defs"]
    for kind, source in KINDS.items():
        schema, count = extract(z, defs, source)
        schema["$comment"] = (
            f"Kubernetes {VERSION} {kind} schema from kubernetes-validate 1.37.0 (Apache-2.0); "
            "regenerate with tests/schemas/extract_k8s_schema.py"
        )
        out = f"tests/schemas/k8s-v1.33-{kind}-strict.json"
        with open(out, "w") as f:
            json.dump(schema, f, indent=1, sort_keys=True)
            f.write("\n")
        print(f"wrote {out} with {count} definitions")


if __name__ == "__main__":
    main(sys.argv[1])
