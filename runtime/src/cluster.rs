//! The connection to a cluster: the kube client from the user's kubeconfig, requests on
//! objects given as JSON, and the retries that make them survive a flaky API server.

use std::future::Future;
use std::time::Duration;

use futures::{Stream, StreamExt};
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher;
use kube::{Client, Config};
use serde_json::Value;

use crate::error::RuntimeError;

/// The field manager of pipec's server-side applies.
pub const FIELD_MANAGER: &str = "pipec";

/// How to reach the cluster.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// A context of the kubeconfig (`KUBECONFIG`, else `~/.kube/config`); its current one by
    /// default.
    pub context: Option<String>,
    /// The namespace of everything without one; the context's by default, else `default`.
    pub namespace: Option<String>,
    /// How long to keep retrying a request that fails with a connection error, 429 or 5xx
    /// before giving up on the cluster.
    pub patience: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            context: None,
            namespace: None,
            patience: Duration::from_secs(30),
        }
    }
}

/// A cluster, as the user's kubeconfig reaches it.
#[derive(Clone)]
pub struct Cluster {
    client: Client,
    namespace: String,
    context: String,
    patience: Duration,
}

/// What a failed request means for the next attempt.
enum Failure {
    /// Worth another try: no connection, 429, 5xx, 409 on an idempotent request.
    Transient(String),
    Final(RuntimeError),
}

impl Cluster {
    /// Reads the kubeconfig and builds a client. No request is made yet. Without a kubeconfig
    /// (and without `--context`), a pod's own service account is used, for pipec running in a
    /// CI job inside the cluster.
    pub async fn connect(options: &ConnectOptions) -> Result<Cluster, RuntimeError> {
        let (mut config, context) = match Kubeconfig::read() {
            Ok(kubeconfig) => {
                let context = options
                    .context
                    .clone()
                    .or_else(|| kubeconfig.current_context.clone())
                    .unwrap_or_default();
                let kube_options = KubeConfigOptions {
                    context: options.context.clone(),
                    ..KubeConfigOptions::default()
                };
                let config = Config::from_custom_kubeconfig(kubeconfig, &kube_options)
                    .await
                    .map_err(|e| RuntimeError::Config(e.to_string()))?;
                (config, context)
            }
            Err(no_kubeconfig) => match (&options.context, Config::incluster()) {
                (None, Ok(config)) => (config, "in-cluster".to_string()),
                _ => return Err(RuntimeError::Config(no_kubeconfig.to_string())),
            },
        };
        config.connect_timeout = Some(options.patience.min(Duration::from_secs(10)));
        let namespace = options
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let client = Client::try_from(config).map_err(|e| RuntimeError::Config(e.to_string()))?;
        Ok(Cluster {
            client,
            namespace,
            context,
            patience: options.patience,
        })
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn context(&self) -> &str {
        &self.context
    }

    /// How long transient failures are retried before the cluster counts as unreachable.
    pub fn patience(&self) -> std::time::Duration {
        self.patience
    }

    /// The API of a kind, in `namespace` (or the cluster's default one).
    fn api(&self, api_version: &str, kind: &str, namespace: Option<&str>) -> Api<DynamicObject> {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let resource =
            ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(group, version, kind));
        Api::namespaced_with(
            self.client.clone(),
            namespace.unwrap_or(&self.namespace),
            &resource,
        )
    }

    fn classify(&self, what: &str, error: kube::Error) -> Failure {
        match error {
            kube::Error::Api(status) => match status.code {
                401 | 403 => Failure::Final(RuntimeError::Forbidden {
                    context: self.context.clone(),
                    detail: format!("{what}: {}", status.message),
                }),
                404 => Failure::Final(RuntimeError::NotFound(what.to_string())),
                409 | 429 | 500..=599 => {
                    Failure::Transient(format!("{what}: {} ({})", status.message, status.code))
                }
                _ => Failure::Final(RuntimeError::Rejected {
                    what: what.to_string(),
                    detail: status.message.clone(),
                }),
            },
            kube::Error::SerdeError(e) => Failure::Final(RuntimeError::Rejected {
                what: what.to_string(),
                detail: format!("unexpected answer: {e}"),
            }),
            other => Failure::Transient(format!("{what}: {other}")),
        }
    }

    /// Runs a request until it succeeds, fails for good, or transient failures have lasted
    /// longer than the patience; backs off from 200 ms to 5 s between attempts.
    async fn retry<T, F, Fut>(&self, what: &str, mut request: F) -> Result<T, RuntimeError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        let deadline = tokio::time::Instant::now() + self.patience;
        let mut delay = Duration::from_millis(200);
        loop {
            match request().await {
                Ok(value) => return Ok(value),
                Err(error) => match self.classify(what, error) {
                    Failure::Final(e) => return Err(e),
                    Failure::Transient(detail) => {
                        if tokio::time::Instant::now() + delay > deadline {
                            return Err(RuntimeError::Unreachable {
                                context: self.context.clone(),
                                detail,
                            });
                        }
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(5));
                    }
                },
            }
        }
    }

    /// Checks that the API serves `plural` in `api_version`, for each; the first missing
    /// one is named with the product that installs it.
    pub async fn require(&self, kinds: &[(&str, &str)]) -> Result<(), RuntimeError> {
        for (api_version, plural) in kinds {
            let served = self
                .retry(&format!("discovery of {api_version}"), || {
                    self.client.list_api_group_resources(api_version)
                })
                .await;
            let present = match served {
                Ok(list) => list.resources.iter().any(|r| r.name == *plural),
                Err(RuntimeError::NotFound(_)) => false,
                Err(e) => return Err(e),
            };
            if !present {
                let group = api_version.split_once('/').map_or("", |(g, _)| g);
                return Err(RuntimeError::MissingCrd {
                    crd: format!("{plural}.{group}"),
                    product: product_of(plural),
                });
            }
        }
        Ok(())
    }

    /// Server-side apply of a whole object, as field manager `pipec`, taking over fields
    /// others set (the compiled file is the truth for what it declares). With `dry_run` the
    /// server validates and answers without storing anything.
    pub async fn apply(&self, object: &Value, dry_run: bool) -> Result<Value, RuntimeError> {
        let (api, name) = self.api_of(object)?;
        let what = describe(object);
        let mut params = PatchParams::apply(FIELD_MANAGER).force();
        params.dry_run = dry_run;
        let patch = Patch::Apply(object);
        let applied = self
            .retry(&what, || api.patch(&name, &params, &patch))
            .await?;
        Ok(serde_json::to_value(applied).unwrap_or_default())
    }

    /// Creates an object (a Workflow with `generateName`); returns it as stored.
    pub async fn create(&self, object: &Value, dry_run: bool) -> Result<Value, RuntimeError> {
        let namespace = object["metadata"]["namespace"].as_str();
        let api = self.api(
            object["apiVersion"].as_str().unwrap_or_default(),
            object["kind"].as_str().unwrap_or_default(),
            namespace,
        );
        let what = describe(object);
        let body: DynamicObject =
            serde_json::from_value(object.clone()).map_err(|e| RuntimeError::Rejected {
                what: what.clone(),
                detail: e.to_string(),
            })?;
        let params = PostParams {
            dry_run,
            ..PostParams::default()
        };
        let created = self.retry(&what, || api.create(&params, &body)).await?;
        Ok(serde_json::to_value(created).unwrap_or_default())
    }

    /// Reads one object.
    pub async fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, RuntimeError> {
        let api = self.api(api_version, kind, namespace);
        let object = self
            .retry(&format!("{kind} {name}"), || api.get(name))
            .await?;
        Ok(serde_json::to_value(object).unwrap_or_default())
    }

    /// Lists the objects of a kind with a label selector.
    pub async fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        labels: &str,
    ) -> Result<Vec<Value>, RuntimeError> {
        let api = self.api(api_version, kind, namespace);
        let params = ListParams::default().labels(labels);
        let list = self
            .retry(&format!("the {kind}s"), || api.list(&params))
            .await?;
        Ok(list
            .items
            .into_iter()
            .map(|o| serde_json::to_value(o).unwrap_or_default())
            .collect())
    }

    /// A merge patch, on the object or on its `status` subresource.
    pub async fn merge_patch(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
        status: bool,
    ) -> Result<Value, RuntimeError> {
        let api = self.api(api_version, kind, namespace);
        let params = PatchParams::default();
        let what = format!("{kind} {name}");
        let patch = Patch::Merge(patch);
        let patched = if status {
            self.retry(&what, || api.patch_status(name, &params, &patch))
                .await?
        } else {
            self.retry(&what, || api.patch(name, &params, &patch))
                .await?
        };
        Ok(serde_json::to_value(patched).unwrap_or_default())
    }

    /// Follows one object: its state after each change, `None` once deleted. The watch
    /// resumes from the last resource version when the connection drops and starts over when
    /// that version has expired (410); errors are yielded, and the stream goes on after a
    /// backoff.
    pub fn watch(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> impl Stream<Item = Result<Option<Value>, String>> + Send + use<> {
        let api = self.api(api_version, kind, namespace);
        let config = watcher::Config::default()
            .fields(&format!("metadata.name={name}"))
            .timeout(60);
        let backoff = tokio::time::Duration::from_millis(250);
        watcher::watcher(api, config).filter_map(move |event| async move {
            match event {
                Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                    Some(Ok(Some(serde_json::to_value(o).unwrap_or_default())))
                }
                Ok(watcher::Event::Delete(_)) => Some(Ok(None)),
                Ok(watcher::Event::Init | watcher::Event::InitDone) => None,
                Err(e) => {
                    // The watcher recovers on the next poll; give the server a moment.
                    tokio::time::sleep(backoff).await;
                    Some(Err(e.to_string()))
                }
            }
        })
    }

    fn api_of(&self, object: &Value) -> Result<(Api<DynamicObject>, String), RuntimeError> {
        let name = object["metadata"]["name"]
            .as_str()
            .ok_or_else(|| RuntimeError::Invalid(format!("{} has no name", describe(object))))?;
        let api = self.api(
            object["apiVersion"].as_str().unwrap_or_default(),
            object["kind"].as_str().unwrap_or_default(),
            object["metadata"]["namespace"].as_str(),
        );
        Ok((api, name.to_string()))
    }
}

/// `Rollout api`, `Workflow addressbook-`.
pub fn describe(object: &Value) -> String {
    let meta = &object["metadata"];
    let name = meta["name"]
        .as_str()
        .or(meta["generateName"].as_str())
        .unwrap_or("?");
    format!("{} {name}", object["kind"].as_str().unwrap_or("object"))
}

/// Who installs the CRD of a plural.
fn product_of(plural: &str) -> &'static str {
    match plural {
        "rollouts" | "analysistemplates" | "analysisruns" => "Argo Rollouts",
        "eventsources" | "sensors" => "Argo Events",
        "workflows" | "workflowtemplates" | "cronworkflows" => "Argo Workflows",
        _ => "A required API",
    }
}
