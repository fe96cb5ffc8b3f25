#!/usr/bin/env python3
"""Regenerates k8s-v1.33-service-strict.json from the kubernetes-validate wheel.

The core Kubernetes types pipec emits (Service) are not in ../shared/argo/crds, so the schema
test validates them against the official Kubernetes OpenAPI, as converted to strict JSON
Schema (additionalProperties: false) by the kubernetes-validate project (Apache-2.0).

    pip download kubernetes-validate==1.37.0 --no-deps -d /tmp/kv
    python3 tests/schemas/extract_k8s_schema.py /tmp/kv/kubernetes_validate-1.37.0-py3-none-any.whl

Only the definitions a Service reaches are kept, inlined under `$defs`, so the file is
self-contained.
"""
import json
import sys
import zipfile

VERSION = "v1.33.0-local-strict"
ROOT = f"kubernetes_validate/kubernetes-json-schema/{VERSION}"


def main(wheel):
    z = zipfile.ZipFile(wheel)
    service = json.loads(z.read(f"{ROOT}/service-v1.json"))
    defs = json.loads(z.read(f"{ROOT}/_definitions.json"))["$defs"]
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

    walk(service)
    service["$defs"] = dict(sorted(keep.items()))
    service["$comment"] = (
        f"Kubernetes {VERSION} Service schema from kubernetes-validate 1.37.0 (Apache-2.0); "
        "regenerate with tests/schemas/extract_k8s_schema.py"
    )
    out = "tests/schemas/k8s-v1.33-service-strict.json"
    with open(out, "w") as f:
        json.dump(service, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {out} with {len(keep)} definitions")


if __name__ == "__main__":
    main(sys.argv[1])
