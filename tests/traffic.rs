//! Traffic routers: what each `traffic = …` makes, and that the pieces point at each other.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code may fail loudly

mod common;

use serde_json::{Value, json};

fn docs() -> Vec<Value> {
    let path = common::root().join("tests/cases/compile/traffic.pipe");
    let compilation = common::compile_file(&path);
    common::expect_clean(&path, &compilation);
    common::parsed_documents(&compilation)
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
}

fn canary<'a>(docs: &'a [Value], service: &str) -> &'a Value {
    &find(docs, "Rollout", service).unwrap()["spec"]["strategy"]["canary"]
}

#[test]
fn every_router_gets_stable_and_canary_services_selecting_the_pods() {
    let docs = docs();
    for service in ["web", "api", "cart", "search"] {
        let canary = canary(&docs, service);
        for (field, suffix) in [("stableService", "stable"), ("canaryService", "canary")] {
            let name = format!("{service}-{suffix}");
            assert_eq!(canary[field], name.as_str());
            let object = find(&docs, "Service", &name).unwrap_or_else(|| panic!("no {name}"));
            assert_eq!(
                object["spec"]["selector"],
                json!({"app.kubernetes.io/name": service})
            );
        }
        assert!(
            canary["steps"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s.get("setCanaryScale").is_none()),
            "weights, not pod counts"
        );
    }
}

#[test]
fn nginx_with_a_host_gets_an_ingress_to_the_stable_service() {
    let docs = docs();
    assert_eq!(
        canary(&docs, "web")["trafficRouting"],
        json!({"nginx": {"stableIngress": "web"}})
    );
    let ingress = find(&docs, "Ingress", "web").unwrap();
    assert_eq!(ingress["apiVersion"], "networking.k8s.io/v1");
    assert_eq!(ingress["spec"]["ingressClassName"], "nginx-public");
    let rule = &ingress["spec"]["rules"][0];
    assert_eq!(rule["host"], "web.example.com");
    assert_eq!(
        rule["http"]["paths"][0]["backend"]["service"],
        json!({"name": "web-stable", "port": {"name": "http"}})
    );
    // An existing Ingress is referenced, not made.
    assert_eq!(
        canary(&docs, "api")["trafficRouting"],
        json!({"nginx": {"stableIngress": "api-public"}})
    );
    assert!(find(&docs, "Ingress", "api").is_none());
    assert!(find(&docs, "Ingress", "api-public").is_none());
}

#[test]
fn istio_and_smi_are_referenced_by_name() {
    let docs = docs();
    assert_eq!(
        canary(&docs, "cart")["trafficRouting"],
        json!({"istio": {"virtualService": {"name": "cart", "routes": ["primary"]}}})
    );
    assert_eq!(
        canary(&docs, "search")["trafficRouting"],
        json!({"smi": {}})
    );
    // Exact weights: a 1% canary is fine with a router (no pod-count check applies).
    assert_eq!(canary(&docs, "cart")["steps"][0], json!({"setWeight": 1}));
}
