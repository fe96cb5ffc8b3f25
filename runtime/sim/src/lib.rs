//! A **simulated** Kubernetes API server, for testing pipec's runtime without a cluster.
//!
//! It speaks the real HTTP API that `kube` uses, on a loopback port: discovery (`/api`,
//! `/apis`, `/apis/GROUP/VERSION`), GET, LIST with label and field selectors, `watch=true`
//! streams with resource versions and bookmarks, POST with `generateName`, PATCH (server-side
//! apply, merge and JSON patch, on objects and their `status`), PUT and DELETE. Objects live in
//! memory. Tests play the controllers (Argo Workflows, Argo Rollouts) through [`Sim::update`],
//! and script failures: HTTP errors for matching requests, watch streams that drop, resource
//! versions that expire (410 Gone), CRDs that are not installed.
//!
//! It models what the runtime relies on, not Kubernetes: there is no admission, no field
//! ownership beyond what server-side apply of a whole object needs, no garbage collection.

mod argo;

pub use argo::Script;

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, watch};

/// A kind the simulation serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resource {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
    /// Whether `status` is a subresource: then only `/status` requests change it. Argo's
    /// Workflow has none, so a merge patch of the object changes its node phases; a Rollout
    /// has one.
    pub status_subresource: bool,
}

/// Everything pipec reads or writes.
pub const RESOURCES: &[Resource] = &[
    core("Namespace", "namespaces", false, true),
    core("Service", "services", true, true),
    core("Secret", "secrets", true, false),
    core("Pod", "pods", true, true),
    core("Event", "events", true, false),
    Resource {
        group: "apps",
        version: "v1",
        kind: "Deployment",
        plural: "deployments",
        namespaced: true,
        status_subresource: true,
    },
    Resource {
        group: "apps",
        version: "v1",
        kind: "ReplicaSet",
        plural: "replicasets",
        namespaced: true,
        status_subresource: true,
    },
    Resource {
        group: "networking.k8s.io",
        version: "v1",
        kind: "Ingress",
        plural: "ingresses",
        namespaced: true,
        status_subresource: true,
    },
    // As the CRDs in `../shared/argo/crds` declare their subresources.
    argo("Workflow", "workflows", false),
    argo("WorkflowTemplate", "workflowtemplates", false),
    argo("CronWorkflow", "cronworkflows", false),
    argo("Rollout", "rollouts", true),
    argo("AnalysisTemplate", "analysistemplates", false),
    argo("AnalysisRun", "analysisruns", false),
    argo("EventSource", "eventsources", true),
    argo("Sensor", "sensors", true),
];

const fn core(
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    status_subresource: bool,
) -> Resource {
    Resource {
        group: "",
        version: "v1",
        kind,
        plural,
        namespaced,
        status_subresource,
    }
}

const fn argo(kind: &'static str, plural: &'static str, status_subresource: bool) -> Resource {
    Resource {
        group: "argoproj.io",
        version: "v1alpha1",
        kind,
        plural,
        namespaced: true,
        status_subresource,
    }
}

impl Resource {
    fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    fn by_plural(group: &str, plural: &str) -> Option<&'static Resource> {
        RESOURCES
            .iter()
            .find(|r| r.group == group && r.plural == plural)
    }
}

/// Where an object lives: its resource's plural, its namespace (empty if cluster-scoped) and
/// its name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    plural: &'static str,
    namespace: String,
    name: String,
}

#[derive(Clone, Debug)]
struct Change {
    rv: u64,
    key: Key,
    kind: &'static str,
    object: Value,
}

/// A scripted failure: the next `times` requests whose method matches (any if `None`) and
/// whose path and query contain `path` get `status`.
#[derive(Clone, Debug)]
struct Fault {
    method: Option<Method>,
    path: String,
    status: u16,
    times: u32,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<Key, Value>,
    rv: u64,
    log: Vec<Change>,
    /// How many of the next watches that resume from a resource version get 410 Gone.
    expire_next: usize,
    /// How many watches got 410 Gone.
    gone_served: usize,
    missing: BTreeSet<&'static str>,
    faults: Vec<Fault>,
    requests: Vec<String>,
    /// Each watch stream closes after this many events (none: it stays open).
    watch_event_limit: Option<usize>,
    next_suffix: u64,
    /// What pipec last applied to each object: the fields it owns.
    applied: BTreeMap<Key, Value>,
}

/// A running simulation. Dropping it stops the server.
pub struct Sim {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    changes: broadcast::Sender<Change>,
    server: tokio::task::JoinHandle<()>,
    stop: watch::Sender<bool>,
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.stop();
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A poisoned lock means a test already panicked; its state is still what it was.
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Sim {
    /// Starts the simulation on a free loopback port.
    pub async fn start() -> std::io::Result<Sim> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            rv: 1,
            ..State::default()
        }));
        let (changes, _) = broadcast::channel(4096);
        let (stop, stopped) = watch::channel(false);
        let server = {
            let state = state.clone();
            let changes = changes.clone();
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let state = state.clone();
                    let changes = changes.clone();
                    let mut stopped = stopped.clone();
                    tokio::spawn(async move {
                        let service = service_fn(move |req| {
                            let state = state.clone();
                            let changes = changes.clone();
                            async move { Ok::<_, Infallible>(handle(req, &state, &changes).await) }
                        });
                        let connection = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service);
                        // Stopping drops the connection mid-request, as a dead server would.
                        tokio::select! {
                            _ = connection => {}
                            _ = stopped.wait_for(|s| *s) => {}
                        }
                    });
                }
            })
        };
        Ok(Sim {
            addr,
            state,
            changes,
            server,
            stop,
        })
    }

    /// The API server goes away: it stops listening and cuts every open connection, watches
    /// included.
    pub fn stop(&self) {
        self.server.abort();
        let _ = self.stop.send(true);
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The CRD of `plural` (e.g. `rollouts`) is not installed: discovery omits it and its
    /// paths answer 404.
    pub fn without_crd(&self, plural: &'static str) {
        lock(&self.state).missing.insert(plural);
    }

    /// The next `times` requests of `method` (any if `None`) whose path and query contain
    /// `path` get `status`.
    pub fn fail(&self, method: Option<&str>, path: &str, status: u16, times: u32) {
        lock(&self.state).faults.push(Fault {
            method: method.and_then(|m| Method::from_bytes(m.as_bytes()).ok()),
            path: path.to_string(),
            status,
            times,
        });
    }

    /// Every watch stream closes after `events` events, as API servers do on timeouts.
    pub fn drop_watches_after(&self, events: usize) {
        lock(&self.state).watch_event_limit = Some(events);
    }

    /// The next `watches` watches that resume from a resource version find it compacted
    /// away: they get 410 Gone, and the client has to list again.
    pub fn expire_resource_versions(&self, watches: usize) {
        lock(&self.state).expire_next = watches;
    }

    /// How many watches were told their resource version is gone (410).
    pub fn gone_served(&self) -> usize {
        lock(&self.state).gone_served
    }

    /// `METHOD path?query` of every request so far.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.state).requests.clone()
    }

    /// An object, as stored.
    pub fn get(&self, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        let state = lock(&self.state);
        state
            .objects
            .iter()
            .find(|(k, _)| k.plural == plural && k.namespace == namespace && k.name == name)
            .map(|(_, v)| v.clone())
    }

    /// All objects of a resource, in every namespace.
    pub fn list(&self, plural: &str) -> Vec<Value> {
        lock(&self.state)
            .objects
            .iter()
            .filter(|(k, _)| k.plural == plural)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Stores an object directly, as a controller or an earlier `kubectl apply` would have.
    pub fn put(&self, object: Value) {
        let Some((resource, key)) = key_of(&object) else {
            return;
        };
        let mut state = lock(&self.state);
        store(&mut state, &self.changes, resource, key, object, "ADDED");
    }

    /// Changes an object the way a controller does (status included), emitting a MODIFIED
    /// event. Returns false if there is no such object.
    pub fn update(
        &self,
        plural: &str,
        namespace: &str,
        name: &str,
        change: impl FnOnce(&mut Value),
    ) -> bool {
        let mut state = lock(&self.state);
        let Some((key, mut object)) = state
            .objects
            .iter()
            .find(|(k, _)| k.plural == plural && k.namespace == namespace && k.name == name)
            .map(|(k, v)| (k.clone(), v.clone()))
        else {
            return false;
        };
        change(&mut object);
        let Some(resource) = RESOURCES.iter().find(|r| r.plural == plural) else {
            return false;
        };
        store(&mut state, &self.changes, resource, key, object, "MODIFIED");
        true
    }

    /// Waits until some object of `plural` satisfies `test`, polling; `None` after `timeout`.
    pub async fn wait_for(
        &self,
        plural: &str,
        timeout: Duration,
        test: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(found) = self.list(plural).into_iter().find(|o| test(o)) {
                return Some(found);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn key_of(object: &Value) -> Option<(&'static Resource, Key)> {
    let api_version = object["apiVersion"].as_str()?;
    let kind = object["kind"].as_str()?;
    let resource = RESOURCES
        .iter()
        .find(|r| r.api_version() == api_version && r.kind == kind)?;
    let namespace = if resource.namespaced {
        object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string()
    } else {
        String::new()
    };
    Some((
        resource,
        Key {
            plural: resource.plural,
            namespace,
            name: object["metadata"]["name"].as_str()?.to_string(),
        },
    ))
}

/// Stores `object` under `key` with the next resource version, and tells the watchers.
fn store(
    state: &mut State,
    changes: &broadcast::Sender<Change>,
    resource: &Resource,
    key: Key,
    mut object: Value,
    kind: &'static str,
) -> Value {
    state.rv += 1;
    let rv = state.rv;
    if let Some(meta) = object["metadata"].as_object_mut() {
        meta.insert("resourceVersion".into(), json!(rv.to_string()));
        meta.entry("uid")
            .or_insert_with(|| json!(format!("uid-{rv}")));
        meta.entry("generation").or_insert_with(|| json!(1));
        meta.entry("creationTimestamp")
            .or_insert_with(|| json!("2026-11-22T00:00:00Z"));
        if resource.namespaced {
            meta.insert("namespace".into(), json!(key.namespace));
        }
    }
    object["apiVersion"] = json!(resource.api_version());
    object["kind"] = json!(resource.kind);
    state.objects.insert(key.clone(), object.clone());
    let change = Change {
        rv,
        key,
        kind,
        object: object.clone(),
    };
    state.log.push(change.clone());
    let _ = changes.send(change);
    object
}

type Body = BoxBody<Bytes, Infallible>;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

fn respond(status: StatusCode, body: &Value) -> Response<Body> {
    let mut response = Response::new(full(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

/// A `Status` object, as the API server answers errors.
fn status(code: StatusCode, reason: &str, message: &str) -> Response<Body> {
    respond(
        code,
        &json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code.as_u16(),
        }),
    )
}

/// A parsed resource path.
struct Target {
    resource: &'static Resource,
    namespace: String,
    name: Option<String>,
    status: bool,
}

fn parse_target(segments: &[&str]) -> Option<Target> {
    let (group, rest) = match segments {
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (ns.to_string(), rest),
        rest => (String::new(), rest),
    };
    let (plural, name, status) = match rest {
        [plural] => (*plural, None, false),
        [plural, name] => (*plural, Some(name.to_string()), false),
        [plural, name, "status"] => (*plural, Some(name.to_string()), true),
        _ => return None,
    };
    let resource = Resource::by_plural(group, plural)?;
    if status && !resource.status_subresource {
        return None;
    }
    Some(Target {
        resource,
        namespace,
        name,
        status,
    })
}

fn query(req: &Request<Incoming>) -> BTreeMap<String, String> {
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), percent_decode(v)))
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => out.push(b),
                    Err(_) => out.extend_from_slice(&bytes[i..i + 3]),
                }
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn handle(
    req: Request<Incoming>,
    state: &Arc<Mutex<State>>,
    changes: &broadcast::Sender<Change>,
) -> Response<Body> {
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or_else(String::new, |p| p.to_string());
    let method = req.method().clone();
    {
        let mut s = lock(state);
        s.requests.push(format!("{method} {path_and_query}"));
        let fault = s.faults.iter_mut().find(|f| {
            f.times > 0
                && f.method.as_ref().is_none_or(|m| *m == method)
                && path_and_query.contains(&f.path)
        });
        if let Some(fault) = fault {
            fault.times -= 1;
            let code =
                StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let reason = match fault.status {
                409 => "Conflict",
                429 => "TooManyRequests",
                410 => "Expired",
                _ => "InternalError",
            };
            return status(code, reason, "scripted failure of the simulation");
        }
    }
    let path = req.uri().path().to_string();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if method == Method::GET
        && let Some(discovery) = discovery(&segments, &lock(state).missing)
    {
        return respond(StatusCode::OK, &discovery);
    }
    let Some(target) = parse_target(&segments) else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("no route {path}"),
        );
    };
    if lock(state).missing.contains(target.resource.plural) {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("the server could not find the requested resource ({path})"),
        );
    }
    let params = query(&req);
    let content_type = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    match (method, &target.name) {
        (Method::GET, None) if params.get("watch").is_some_and(|w| w == "true" || w == "1") => {
            watch(state, changes, &target, &params)
        }
        (Method::GET, None) => list(&lock(state), &target, &params),
        (Method::GET, Some(name)) => {
            let key = Key {
                plural: target.resource.plural,
                namespace: target.namespace.clone(),
                name: name.clone(),
            };
            match lock(state).objects.get(&key) {
                Some(object) => respond(StatusCode::OK, object),
                None => not_found(&target, name),
            }
        }
        (Method::POST, None) => create(state, changes, &target, &body),
        (Method::PATCH, Some(name)) => patch(state, changes, &target, name, &content_type, &body),
        (Method::PUT, Some(name)) => replace(state, changes, &target, name, &body),
        (Method::DELETE, Some(name)) => delete(state, changes, &target, name),
        _ => status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "not supported by the simulation",
        ),
    }
}

fn not_found(target: &Target, name: &str) -> Response<Body> {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!(
            "{}.{} \"{name}\" not found",
            target.resource.plural, target.resource.group
        ),
    )
}

fn discovery(segments: &[&str], missing: &BTreeSet<&'static str>) -> Option<Value> {
    let listed = |group: &str| -> Vec<Value> {
        RESOURCES
            .iter()
            .filter(|r| r.group == group && !missing.contains(r.plural))
            .flat_map(|r| {
                let mut entries = vec![json!({
                    "name": r.plural,
                    "singularName": r.kind.to_lowercase(),
                    "namespaced": r.namespaced,
                    "kind": r.kind,
                    "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
                })];
                if r.status_subresource {
                    entries.push(json!({
                        "name": format!("{}/status", r.plural),
                        "singularName": "",
                        "namespaced": r.namespaced,
                        "kind": r.kind,
                        "verbs": ["get", "patch", "update"],
                    }));
                }
                entries
            })
            .collect()
    };
    match segments {
        ["api"] => Some(
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}),
        ),
        ["api", "v1"] => {
            Some(json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": listed("")}))
        }
        ["apis"] => {
            let groups: BTreeSet<(&str, &str)> = RESOURCES
                .iter()
                .filter(|r| !r.group.is_empty())
                .map(|r| (r.group, r.version))
                .collect();
            let groups: Vec<Value> = groups
                .into_iter()
                .map(|(g, v)| {
                    let gv = json!({"groupVersion": format!("{g}/{v}"), "version": v});
                    json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
                })
                .collect();
            Some(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
        }
        ["apis", group, version] => {
            let known = RESOURCES
                .iter()
                .any(|r| r.group == *group && r.version == *version);
            known.then(|| {
                json!({
                    "kind": "APIResourceList",
                    "apiVersion": "v1",
                    "groupVersion": format!("{group}/{version}"),
                    "resources": listed(group),
                })
            })
        }
        _ => None,
    }
}

/// `labelSelector=a=b,c=d` and `fieldSelector=metadata.name=x` (and `metadata.namespace`).
fn selected(object: &Value, params: &BTreeMap<String, String>) -> bool {
    let labels_ok = params.get("labelSelector").is_none_or(|sel| {
        sel.split(',')
            .filter(|s| !s.is_empty())
            .all(|term| match term.split_once('=') {
                Some((k, v)) => object["metadata"]["labels"][k.trim_end_matches('=')] == v,
                None => !object["metadata"]["labels"][term].is_null(),
            })
    });
    let fields_ok = params.get("fieldSelector").is_none_or(|sel| {
        sel.split(',')
            .filter(|s| !s.is_empty())
            .all(|term| match term.split_once('=') {
                Some((field, v)) => {
                    let v = v.trim_start_matches('=');
                    match field {
                        "metadata.name" => object["metadata"]["name"] == v,
                        "metadata.namespace" => object["metadata"]["namespace"] == v,
                        _ => true,
                    }
                }
                None => true,
            })
    });
    labels_ok && fields_ok
}

fn in_scope(key: &Key, target: &Target) -> bool {
    key.plural == target.resource.plural
        && (target.namespace.is_empty() || key.namespace == target.namespace)
}

fn list(state: &State, target: &Target, params: &BTreeMap<String, String>) -> Response<Body> {
    let items: Vec<Value> = state
        .objects
        .iter()
        .filter(|(k, v)| in_scope(k, target) && selected(v, params))
        .map(|(_, v)| v.clone())
        .collect();
    respond(
        StatusCode::OK,
        &json!({
            "apiVersion": target.resource.api_version(),
            "kind": format!("{}List", target.resource.kind),
            "metadata": {"resourceVersion": state.rv.to_string()},
            "items": items,
        }),
    )
}

fn watch(
    state: &Arc<Mutex<State>>,
    changes: &broadcast::Sender<Change>,
    target: &Target,
    params: &BTreeMap<String, String>,
) -> Response<Body> {
    let from: u64 = params
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let bookmarks = params
        .get("allowWatchBookmarks")
        .is_some_and(|b| b == "true");
    let timeout = params
        .get("timeoutSeconds")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(300)
        .min(300);
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let (backlog, limit, expired, current_rv) = {
        let mut s = lock(state);
        let expired = from != 0 && s.expire_next > 0;
        if expired {
            s.expire_next -= 1;
            s.gone_served += 1;
        }
        let backlog: Vec<Change> = s
            .log
            .iter()
            .filter(|c| c.rv > from && in_scope(&c.key, target) && selected(&c.object, params))
            .cloned()
            .collect();
        (backlog, s.watch_event_limit, expired, s.rv)
    };
    let mut live = changes.subscribe();
    let resource = *target.resource;
    let namespace = target.namespace.clone();
    let params = params.clone();
    tokio::spawn(async move {
        let line = |kind: &str, object: &Value| {
            Bytes::from(format!("{}\n", json!({"type": kind, "object": object})))
        };
        if expired {
            let gone = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                "message": "too old resource version", "reason": "Expired", "code": 410});
            let _ = tx.send(line("ERROR", &gone)).await;
            return;
        }
        let mut sent = 0usize;
        let mut last_rv = from.max(if from == 0 { current_rv } else { 0 });
        let scope = Target {
            resource: Resource::by_plural(resource.group, resource.plural).unwrap_or(&RESOURCES[0]),
            namespace,
            name: None,
            status: false,
        };
        for change in backlog {
            if limit.is_some_and(|l| sent >= l) {
                return;
            }
            last_rv = change.rv;
            if tx.send(line(change.kind, &change.object)).await.is_err() {
                return;
            }
            sent += 1;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
        loop {
            if limit.is_some_and(|l| sent >= l) {
                return;
            }
            let next = tokio::time::timeout(Duration::from_millis(200), live.recv());
            match tokio::time::timeout_at(deadline, next).await {
                Err(_) => return,
                Ok(Err(_)) => {
                    if bookmarks {
                        let mark = json!({"kind": resource.kind, "apiVersion": resource.api_version(),
                            "metadata": {"resourceVersion": last_rv.to_string()}});
                        if tx.send(line("BOOKMARK", &mark)).await.is_err() {
                            return;
                        }
                    }
                }
                Ok(Ok(Err(broadcast::error::RecvError::Lagged(_)))) => continue,
                Ok(Ok(Err(broadcast::error::RecvError::Closed))) => return,
                Ok(Ok(Ok(change))) => {
                    if change.rv <= last_rv
                        || !in_scope(&change.key, &scope)
                        || !selected(&change.object, &params)
                    {
                        continue;
                    }
                    last_rv = change.rv;
                    if tx.send(line(change.kind, &change.object)).await.is_err() {
                        return;
                    }
                    sent += 1;
                }
            }
        }
    });
    let stream = tokio_stream(rx).map(|b| Ok::<_, Infallible>(Frame::data(b)));
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

/// An mpsc receiver as a stream.
fn tokio_stream(mut rx: mpsc::Receiver<Bytes>) -> impl futures::Stream<Item = Bytes> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

fn parse_body(body: &[u8]) -> Option<Value> {
    serde_json::from_slice(body)
        .ok()
        .or_else(|| serde_saphyr::from_slice::<Value>(body).ok())
}

fn create(
    state: &Arc<Mutex<State>>,
    changes: &broadcast::Sender<Change>,
    target: &Target,
    body: &[u8],
) -> Response<Body> {
    let Some(mut object) = parse_body(body) else {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the body is not an object",
        );
    };
    let mut s = lock(state);
    if object["metadata"]["name"].as_str().is_none() {
        let Some(prefix) = object["metadata"]["generateName"]
            .as_str()
            .map(str::to_string)
        else {
            return status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid",
                "metadata.name or generateName is required",
            );
        };
        s.next_suffix += 1;
        // Five characters, like the API server's random suffix, but predictable.
        let suffix = format!("{:05x}", 0x0a1b2 + s.next_suffix * 7919);
        object["metadata"]["name"] = json!(format!("{prefix}{}", &suffix[suffix.len() - 5..]));
    }
    if !target.namespace.is_empty() {
        object["metadata"]["namespace"] = json!(target.namespace);
    }
    let Some((resource, key)) = key_of(&object) else {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "apiVersion and kind do not match the path",
        );
    };
    if s.objects.contains_key(&key) {
        return status(
            StatusCode::CONFLICT,
            "AlreadyExists",
            &format!("{} \"{}\" already exists", resource.plural, key.name),
        );
    }
    let stored = store(&mut s, changes, resource, key, object, "ADDED");
    respond(StatusCode::CREATED, &stored)
}

/// RFC 7386 merge.
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// RFC 6902: `add`, `replace`, `remove`, `test`.
fn json_patch(target: &mut Value, ops: &Value) -> Result<(), String> {
    for op in ops.as_array().ok_or("a JSON patch is an array")? {
        let path = op["path"].as_str().ok_or("an operation has no path")?;
        let tokens: Vec<String> = path
            .split('/')
            .skip(1)
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect();
        let (last, parents) = tokens.split_last().ok_or("empty path")?;
        let mut node = &mut *target;
        for t in parents {
            node = match node {
                Value::Object(m) => m
                    .entry(t.clone())
                    .or_insert_with(|| Value::Object(Map::new())),
                Value::Array(a) => a
                    .get_mut(t.parse::<usize>().map_err(|e| e.to_string())?)
                    .ok_or("index out of range")?,
                _ => return Err(format!("{path}: not a container")),
            };
        }
        match (op["op"].as_str(), node) {
            (Some("add" | "replace"), Value::Object(m)) => {
                m.insert(last.clone(), op["value"].clone());
            }
            (Some("add" | "replace"), Value::Array(a)) => {
                let value = op["value"].clone();
                if last == "-" {
                    a.push(value);
                } else {
                    let i: usize = last.parse().map_err(|_| format!("{path}: bad index"))?;
                    if op["op"] == "add" && i <= a.len() {
                        a.insert(i, value);
                    } else if i < a.len() {
                        a[i] = value;
                    } else {
                        return Err(format!("{path}: index out of range"));
                    }
                }
            }
            (Some("remove"), Value::Object(m)) => {
                m.remove(last);
            }
            (Some("remove"), Value::Array(a)) => {
                let i: usize = last.parse().map_err(|_| format!("{path}: bad index"))?;
                if i < a.len() {
                    a.remove(i);
                }
            }
            (Some("test"), Value::Object(m)) => {
                if m.get(last) != Some(&op["value"]) {
                    return Err(format!("{path}: test failed"));
                }
            }
            (other, _) => return Err(format!("{path}: unsupported operation {other:?}")),
        }
    }
    Ok(())
}

/// Whether a change touches more than `status` and `metadata`: the spec's generation moves.
fn spec_changed(before: &Value, after: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("status");
            m.remove("metadata");
        }
        v
    };
    strip(before) != strip(after)
}

fn save_change(
    s: &mut State,
    changes: &broadcast::Sender<Change>,
    target: &Target,
    key: Key,
    before: Option<&Value>,
    mut after: Value,
) -> Value {
    if let Some(before) = before {
        let generation = before["metadata"]["generation"].as_i64().unwrap_or(1);
        after["metadata"]["generation"] = json!(if spec_changed(before, &after) {
            generation + 1
        } else {
            generation
        });
        after["metadata"]["uid"] = before["metadata"]["uid"].clone();
        after["metadata"]["creationTimestamp"] = before["metadata"]["creationTimestamp"].clone();
    }
    store(
        s,
        changes,
        target.resource,
        key,
        after,
        if before.is_some() {
            "MODIFIED"
        } else {
            "ADDED"
        },
    )
}

fn patch(
    state: &Arc<Mutex<State>>,
    changes: &broadcast::Sender<Change>,
    target: &Target,
    name: &str,
    content_type: &str,
    body: &[u8],
) -> Response<Body> {
    let Some(patch) = parse_body(body) else {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the patch does not parse",
        );
    };
    let key = Key {
        plural: target.resource.plural,
        namespace: target.namespace.clone(),
        name: name.to_string(),
    };
    let mut s = lock(state);
    let existing = s.objects.get(&key).cloned();
    let apply = content_type.starts_with("application/apply-patch");
    let Some(before) = existing
        .clone()
        .or_else(|| apply.then(|| json!({"metadata": {"name": name}})))
    else {
        return not_found(target, name);
    };
    let mut after = if apply {
        let last = s.applied.insert(key.clone(), patch.clone());
        server_side_apply(&before, last.as_ref(), &patch, target.resource, name)
    } else {
        let changed = if content_type.starts_with("application/json-patch") {
            let mut changed = before.clone();
            json_patch(&mut changed, &patch).map(|()| changed)
        } else {
            let mut changed = before.clone();
            merge(&mut changed, &patch);
            Ok(changed)
        };
        match changed {
            Ok(changed) => changed,
            Err(e) => return status(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", &e),
        }
    };
    // What a request may change: only `status` through `/status`; everything but `status`
    // through the object when `status` is a subresource; everything otherwise.
    if target.status {
        let status = after["status"].take();
        after = before.clone();
        after["status"] = status;
    } else if target.resource.status_subresource {
        after["status"] = before["status"].clone();
    }
    if let Some(m) = after.as_object_mut() {
        m.retain(|_, v| !v.is_null());
    }
    let stored = save_change(&mut s, changes, target, key, existing.as_ref(), after);
    respond(StatusCode::OK, &stored)
}

/// Server-side apply by one field manager, as far as pipec relies on it: the applied fields
/// win; fields the manager applied last time and no longer applies go; fields others set
/// (the image a Workflow set, the controller's status) stay. Lists of objects with a `name`
/// merge by name, as the API's list-map fields (containers, ports, env) do; other lists are
/// replaced.
fn server_side_apply(
    before: &Value,
    last: Option<&Value>,
    applied: &Value,
    resource: &Resource,
    name: &str,
) -> Value {
    let mut after = before.clone();
    apply_fields(&mut after, last.unwrap_or(&Value::Null), applied);
    after["apiVersion"] = json!(resource.api_version());
    after["kind"] = json!(resource.kind);
    after["metadata"]["name"] = json!(name);
    if let Some(meta) = after["metadata"].as_object_mut() {
        for field in ["uid", "resourceVersion", "generation", "creationTimestamp"] {
            match &before["metadata"][field] {
                Value::Null => meta.remove(field),
                kept => meta.insert(field.to_string(), kept.clone()),
            };
        }
    }
    after
}

fn apply_fields(target: &mut Value, last: &Value, applied: &Value) {
    match (&mut *target, applied) {
        (Value::Object(t), Value::Object(a)) => {
            if let Value::Object(l) = last {
                for k in l.keys() {
                    if !a.contains_key(k) {
                        t.remove(k);
                    }
                }
            }
            for (k, v) in a {
                let entry = t.entry(k.clone()).or_insert(Value::Null);
                apply_fields(entry, &last[k.as_str()], v);
            }
        }
        (Value::Array(t), Value::Array(a)) if a.iter().all(|i| i["name"].is_string()) => {
            let named = |list: &[Value], name: &Value| list.iter().position(|i| i["name"] == *name);
            let last: &[Value] = last.as_array().map_or(&[], Vec::as_slice);
            t.retain(|item| {
                named(a, &item["name"]).is_some() || named(last, &item["name"]).is_none()
            });
            for item in a {
                let previous = named(last, &item["name"]).map_or(&Value::Null, |i| &last[i]);
                match named(t, &item["name"]) {
                    Some(i) => apply_fields(&mut t[i], previous, item),
                    None => t.push(item.clone()),
                }
            }
        }
        (t, a) => *t = a.clone(),
    }
}

fn replace(
    state: &Arc<Mutex<State>>,
    changes: &broadcast::Sender<Change>,
    target: &Target,
    name: &str,
    body: &[u8],
) -> Response<Body> {
    let Some(object) = parse_body(body) else {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the body is not an object",
        );
    };
    let key = Key {
        plural: target.resource.plural,
        namespace: target.namespace.clone(),
        name: name.to_string(),
    };
    let mut s = lock(state);
    let Some(existing) = s.objects.get(&key).cloned() else {
        return not_found(target, name);
    };
    let sent_rv = object["metadata"]["resourceVersion"].as_str().unwrap_or("");
    if !sent_rv.is_empty() && existing["metadata"]["resourceVersion"] != sent_rv {
        return status(
            StatusCode::CONFLICT,
            "Conflict",
            "the object has been modified; please apply your changes to the latest version and try again",
        );
    }
    let stored = save_change(&mut s, changes, target, key, Some(&existing), object);
    respond(StatusCode::OK, &stored)
}

fn delete(
    state: &Arc<Mutex<State>>,
    changes: &broadcast::Sender<Change>,
    target: &Target,
    name: &str,
) -> Response<Body> {
    let key = Key {
        plural: target.resource.plural,
        namespace: target.namespace.clone(),
        name: name.to_string(),
    };
    let mut s = lock(state);
    let Some(object) = s.objects.remove(&key) else {
        return not_found(target, name);
    };
    s.rv += 1;
    let change = Change {
        rv: s.rv,
        key,
        kind: "DELETED",
        object: object.clone(),
    };
    s.log.push(change.clone());
    let _ = changes.send(change);
    respond(StatusCode::OK, &object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_and_json_patches() {
        let mut v = json!({"a": {"b": 1, "c": 2}, "l": [1, 2]});
        merge(&mut v, &json!({"a": {"b": null, "d": 3}}));
        assert_eq!(v, json!({"a": {"c": 2, "d": 3}, "l": [1, 2]}));
        json_patch(
            &mut v,
            &json!([{"op": "add", "path": "/a/e~1f", "value": 1}, {"op": "replace", "path": "/l/0", "value": 9}]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v["a"]["e/f"], 1);
        assert_eq!(v["l"], json!([9, 2]));
    }

    #[test]
    fn paths() {
        let t = parse_target(&[
            "apis",
            "argoproj.io",
            "v1alpha1",
            "namespaces",
            "ci",
            "rollouts",
            "api",
            "status",
        ])
        .unwrap_or_else(|| panic!("parses"));
        assert_eq!(t.resource.kind, "Rollout");
        assert_eq!(t.namespace, "ci");
        assert_eq!(t.name.as_deref(), Some("api"));
        assert!(t.status);
        assert!(
            parse_target(&["api", "v1", "namespaces"])
                .is_some_and(|t| t.resource.kind == "Namespace")
        );
        assert!(
            parse_target(&[
                "apis",
                "argoproj.io",
                "v1alpha1",
                "namespaces",
                "ci",
                "workflows",
                "w",
                "status"
            ])
            .is_none(),
            "Workflows have no status subresource"
        );
    }

    #[test]
    fn server_side_apply_keeps_what_others_set() {
        let rollout = RESOURCES
            .iter()
            .find(|r| r.kind == "Rollout")
            .unwrap_or(&RESOURCES[0]);
        let first = json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [
            {"name": "app", "ports": [{"name": "http", "containerPort": 80}]}]}}}});
        let mut live = server_side_apply(&json!({"metadata": {}}), None, &first, rollout, "app");
        // The Workflow sets the image; the controller, the status.
        live["spec"]["template"]["spec"]["containers"][0]["image"] = json!("app:v1");
        live["status"] = json!({"phase": "Healthy"});
        let second = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "ports": [{"name": "http", "containerPort": 8080}]}]}}}});
        let after = server_side_apply(&live, Some(&first), &second, rollout, "app");
        let container = &after["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["image"], "app:v1", "set by another manager: kept");
        assert_eq!(
            container["ports"][0]["containerPort"], 8080,
            "applied: changed"
        );
        assert!(
            after["spec"]["replicas"].is_null(),
            "applied before, not now: removed"
        );
        assert_eq!(after["status"]["phase"], "Healthy");
    }
}
