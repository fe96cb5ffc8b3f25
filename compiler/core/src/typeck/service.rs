//! Checking `service` declarations, probes and exposures.

use std::collections::BTreeMap;

use pipec_syntax::Span;
use pipec_syntax::ast;

use super::value::Val;
use super::{Checker, Scope};
use crate::codes::Code;
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::hir::{self, Exposure, ExposureKind, Probe, ProbeKind};
use crate::schema;

impl Checker<'_, '_> {
    /// Checks a service; one expanded from a `service` definition has its arguments checked
    /// first.
    pub(super) fn check_service(&mut self, decl: &ast::ServiceDecl) -> Option<hir::Service> {
        let Some(instance) = self.instances.get(&decl.name.name).cloned() else {
            return self.check_service_decl(decl);
        };
        if !self.check_instance_args(&instance) {
            return None;
        }
        let mark = self.diags.len();
        let service = self.check_service_decl(decl);
        self.blame_use(mark, &instance);
        service
    }

    fn check_service_decl(&mut self, decl: &ast::ServiceDecl) -> Option<hir::Service> {
        if let Some(call) = &decl.from {
            // Not expanded: its definition is unknown or not a service (reported).
            self.mark_used(&call.args);
            return None;
        }
        let id = *self.service_ids.get(&decl.name.name)?;
        let k8s_name = self.k8s_name(&decl.name, "service");
        let fields = self.fields(
            &decl.body.properties,
            &[schema::SERVICE],
            decl.name.span,
            "a service",
            decl.body.recovered,
        );
        let scope = Scope::Pipeline;
        let environment = match fields.get("environment") {
            Some(p) => {
                let value = self.eval(&p.value, &scope);
                match value.val {
                    Val::Environment(env) => Some(env),
                    Val::Error => None,
                    _ => {
                        self.mismatch(&value, "an environment");
                        None
                    }
                }
            }
            None => None,
        };
        // Services of an ephemeral environment are deployed by the Workflow, which templates
        // their manifests: they may use run-time values (`db.host` in a per-run namespace).
        let ephemeral = self.ephemeral_env_of(id).is_some();
        self.current_env = environment;

        let image_prop = fields.get("image");
        let image = image_prop.and_then(|p| self.expect_image(&p.value, &scope));
        // An image name with run-time parts (`"app:${version}"`) is fine: the Workflow's
        // deploy step sets it, and the Rollout document leaves the image out.
        let port = fields
            .get("port")
            .and_then(|p| self.expect_int(&p.value, &scope, 1, 65535, "a port"))
            .map(|p| p as u16);
        let replicas = match fields.get("replicas") {
            Some(p) => self
                .expect_int(&p.value, &scope, 1, 1000, "`replicas`")
                .map(|r| r as u32),
            None => Some(1),
        };
        let ready = fields
            .get("ready")
            .and_then(|p| self.expect_probe(&p.value, ephemeral));
        let live = fields.get("live").and_then(|p| {
            let probe = self.expect_probe(&p.value, ephemeral)?;
            // `validateProbe` in Kubernetes' `pkg/apis/core/validation`: liveness and startup
            // probes must have `successThreshold: 1`.
            if probe.successes.is_some_and(|n| n != 1) {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0212,
                        p.value.span,
                        "a liveness probe cannot ask for more than one success",
                    )
                    .label(
                        "the API server refuses a liveness probe whose successThreshold is not 1",
                    )
                    .help("remove `successes` from `live`; it belongs on the `ready` probe"),
                );
                return None;
            }
            Some(probe)
        });
        let env = match fields.get("env") {
            Some(p) => self.env_record(&p.value, ephemeral).unwrap_or_default(),
            None => Vec::new(),
        };
        let command = fields
            .get("command")
            .map(|p| self.words(&p.value, "`command`"))
            .unwrap_or_default();
        let args = fields
            .get("args")
            .map(|p| self.words(&p.value, "`args`"))
            .unwrap_or_default();
        let service_account = fields.get("service_account").and_then(|p| {
            let name = self.service_account(&p.value)?;
            if ephemeral {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0212,
                        p.value.span,
                        "a service of an ephemeral environment cannot choose its ServiceAccount",
                    )
                    .label("the run's namespace is new: it holds only the `default` ServiceAccount")
                    .help("remove `service_account`, or run the service in a named environment where the ServiceAccount exists"),
                );
                return None;
            }
            Some(name)
        });
        let pull_secrets = fields
            .get("pull_secrets")
            .map(|p| self.pull_secrets(&p.value))
            .unwrap_or_default();
        self.current_env = None;
        let expose = match (fields.get("expose"), port) {
            (Some(p), _) => {
                let value = self.eval(&p.value, &scope);
                match value.val {
                    Val::Exposure(e) => Some(e),
                    Val::Error => None,
                    _ => {
                        self.mismatch(&value, "an exposure: `cluster_ip(port)`, `load_balancer(port)` or `node_port(port)`");
                        None
                    }
                }
            }
            (None, Some(port)) => Some(Exposure {
                kind: ExposureKind::ClusterIp,
                port,
            }),
            (None, None) => None,
        };
        let resources = match fields.get("resources") {
            Some(p) => self.resources(&p.value).unwrap_or_default(),
            None => hir::Resources::default(),
        };
        Some(hir::Service {
            id,
            name: decl.name.name.clone(),
            k8s_name,
            span: decl.name.span,
            image: image?,
            image_span: image_prop.map_or(decl.name.span, |p| p.value.span),
            replicas: replicas?,
            port: port?,
            ready,
            live,
            env,
            command,
            args,
            service_account,
            pull_secrets,
            expose: expose?,
            resources,
            environment,
        })
    }

    /// `pull_secrets`: declared secrets (one, or a list), by their Kubernetes names. The
    /// kubelet reads them as registry credentials (`kubernetes.io/dockerconfigjson`), which
    /// pipec cannot see; it only names them.
    fn pull_secrets(&mut self, expr: &ast::Expr) -> Vec<String> {
        let value = self.eval(expr, &Scope::Pipeline);
        let items = match value.val {
            Val::List(items) => items,
            _ => vec![value],
        };
        let mut names = Vec::new();
        for item in items {
            match &item.val {
                Val::Secret { secret_name, .. } => {
                    if !names.contains(secret_name) {
                        names.push(secret_name.clone());
                    }
                }
                Val::Error => {}
                _ => self.mismatch(&item, "a declared `secret` (registry credentials)"),
            }
        }
        names
    }

    /// A container's `command` or `args`: a list of words, each known when the pipeline is
    /// compiled (they land in a Rollout or a manifest, which Argo does not template) and free of
    /// `{{`. Kubernetes would expand `$(NAME)` in them; the model escapes every `$` so each
    /// word reaches the process as written, and a secret goes in `env`, which the program
    /// reads.
    fn words(&mut self, expr: &ast::Expr, what: &str) -> Vec<String> {
        let value = self.eval(expr, &Scope::Pipeline);
        let items = match value.val {
            Val::List(items) => items,
            Val::Error => return Vec::new(),
            // A command line in one string: no shell splits it, so show it split.
            Val::Str(ref text) if text.as_static().is_some() => {
                let line = text.as_static().unwrap_or_default();
                let words: Vec<String> =
                    line.split_whitespace().map(|w| format!("{w:?}")).collect();
                self.diags.push(
                    Diagnostic::new(Code::E0201, value.span, format!("{what} is a list of words, not one string"))
                        .label("no shell splits this: the container would look for a program named after all of it")
                        .help(format!("write each word as an item: `[{}]`", words.join(", "))),
                );
                return Vec::new();
            }
            _ => {
                self.mismatch(
                    &value,
                    &format!("a list of words for {what}, such as `[\"--port\", \"8080\"]`"),
                );
                return Vec::new();
            }
        };
        let mut words = Vec::new();
        for item in items {
            match &item.val {
                Val::Error => {}
                Val::SecretKey(_) => {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0201,
                            item.span,
                            format!("a secret cannot be written into {what}"),
                        )
                        .label("the value would be in the YAML, readable by anyone who can read the Rollout")
                        .help("pass it in `env` (`env = { DB_PASSWORD = db.DB_PASSWORD }`) and let the program read the variable"),
                    );
                }
                _ if item.is_runtime() => self.needs_static(&item, &format!("a word of {what}")),
                _ => {
                    // `as_text` reports what cannot be text.
                    let Some(text) = self.as_text(&item) else {
                        continue;
                    };
                    if !self.check_no_template_tags(&text, item.span) {
                        continue;
                    }
                    if let Some(word) = text.as_static() {
                        words.push(word);
                    }
                }
            }
        }
        words
    }

    /// A probe. In an ephemeral environment the probe lands in a manifest the Workflow
    /// applies, and Argo substitutes `{{…}}` in the whole manifest, so its path or command
    /// cannot hold one.
    fn expect_probe(&mut self, expr: &ast::Expr, ephemeral: bool) -> Option<Probe> {
        let value = self.eval(expr, &Scope::Pipeline);
        match value.val {
            Val::Probe(p) => {
                let text = match &p.kind {
                    ProbeKind::HttpGet { path, .. } => Some(path),
                    ProbeKind::Exec { command } => Some(command),
                    ProbeKind::Tcp { .. } => None,
                };
                if ephemeral
                    && let Some(text) = text
                    && !self.check_no_template_tags(&hir::Template::lit(text.clone()), value.span)
                {
                    return None;
                }
                Some(p)
            }
            Val::Error => None,
            _ => {
                self.mismatch(
                    &value,
                    "a probe: `http_get(path)`, `tcp()` or `exec(command)`",
                );
                None
            }
        }
    }

    fn resources(&mut self, expr: &ast::Expr) -> Option<hir::Resources> {
        let value = self.eval(expr, &Scope::Pipeline);
        let Val::Record(fields) = value.val else {
            self.mismatch(&value, "a record `{ cpu = \"250m\", memory = \"256Mi\" }`");
            return None;
        };
        let mut out = hir::Resources::default();
        let mut spans: BTreeMap<String, Span> = BTreeMap::new();
        let names: Vec<&str> = schema::RESOURCES.iter().map(|f| f.name).collect();
        for (name, v) in fields {
            spans.insert(name.name.clone(), v.span);
            let slot = match name.name.as_str() {
                "cpu" => &mut out.cpu,
                "memory" => &mut out.memory,
                "cpu_limit" => &mut out.cpu_limit,
                "memory_limit" => &mut out.memory_limit,
                other => {
                    let suggestion = did_you_mean(other, names.iter().copied());
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0205,
                            name.span,
                            format!("resources have no property `{other}`"),
                        )
                        .label("unknown property")
                        .help(match suggestion {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => format!("its properties are: {}", names.join(", ")),
                        }),
                    );
                    continue;
                }
            };
            let text = match &v.val {
                Val::Str(t) => t.as_static(),
                _ => None,
            };
            match text {
                Some(q) if valid_quantity(&q) => *slot = Some(q),
                Some(q) => {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0212,
                            v.span,
                            format!("`{q}` is not a Kubernetes quantity"),
                        )
                        .label("invalid quantity")
                        .help("write quantities like \"250m\", \"1\", \"256Mi\" or \"1Gi\""),
                    );
                }
                None if v.is_error() => {}
                None => self.mismatch(&v, "a quantity string such as \"250m\" or \"256Mi\""),
            }
        }
        // `ValidateResourceRequirements` (Kubernetes `pkg/apis/core/validation`): a request
        // must not exceed its limit.
        for (what, request, limit, request_key, limit_key) in [
            ("cpu", &out.cpu, &out.cpu_limit, "cpu", "cpu_limit"),
            (
                "memory",
                &out.memory,
                &out.memory_limit,
                "memory",
                "memory_limit",
            ),
        ] {
            let (Some(r), Some(l)) = (request, limit) else {
                continue;
            };
            if quantity_value(r) > quantity_value(l)
                && let Some(span) = spans.get(request_key)
            {
                let mut d = Diagnostic::new(
                    Code::E0212,
                    *span,
                    format!("the {what} request `{r}` is above its limit `{l}`"),
                )
                .label("the API server refuses a request greater than the limit")
                .help(format!("lower `{request_key}` or raise `{limit_key}`"));
                if let Some(limit_span) = spans.get(limit_key) {
                    d = d.with_secondary(*limit_span, "the limit");
                }
                self.diags.push(d);
                return None;
            }
        }
        Some(out)
    }

    /// `http_get(path, port = …, every = …, …)`, `tcp(port)`, `exec(command)`.
    pub(super) fn probe(
        &mut self,
        name: &str,
        args: &[ast::Arg],
        span: Span,
        scope: &Scope,
    ) -> Option<Probe> {
        let first: (&str, bool) = match name {
            "http_get" => ("path", true),
            "tcp" => ("port", false),
            _ => ("command", true),
        };
        let mut params: Vec<(&str, bool)> = vec![first];
        if name == "http_get" {
            params.push(("port", false));
        }
        params.extend([
            ("every", false),
            ("timeout", false),
            ("failures", false),
            ("successes", false),
            ("delay", false),
        ]);
        let bound = self.bind_args(name, &params, args, span, None)?;
        let port = match bound.get("port") {
            Some(e) => Some(self.expect_int(e, scope, 1, 65535, "a port")? as u16),
            None => None,
        };
        let kind = match name {
            "http_get" => {
                let path = self.expect_static_text(bound.get("path")?, scope, "a probe's path")?;
                if !path.starts_with('/') {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0212,
                            bound.get("path").map_or(span, |e| e.span),
                            "an HTTP probe path starts with `/`",
                        )
                        .label("no leading `/`")
                        .help(format!("write \"/{path}\"")),
                    );
                    return None;
                }
                ProbeKind::HttpGet { path, port }
            }
            "tcp" => ProbeKind::Tcp { port },
            _ => ProbeKind::Exec {
                command: self.expect_static_text(
                    bound.get("command")?,
                    scope,
                    "a probe's command",
                )?,
            },
        };
        let duration = |this: &mut Self, key: &str| match bound.get(key) {
            Some(e) => this
                .expect_duration(e, scope, &format!("`{key}`"))
                .map(Some),
            None => Some(None),
        };
        let count = |this: &mut Self, key: &str| match bound.get(key) {
            Some(e) => this
                .expect_int(e, scope, 1, 1000, &format!("`{key}`"))
                .map(|v| Some(v as u32)),
            None => Some(None),
        };
        Some(Probe {
            kind,
            period: duration(self, "every")?,
            timeout: duration(self, "timeout")?,
            failures: count(self, "failures")?,
            successes: count(self, "successes")?,
            delay: duration(self, "delay")?,
        })
    }

    pub(super) fn exposure(
        &mut self,
        name: &str,
        args: &[ast::Arg],
        span: Span,
        scope: &Scope,
    ) -> Option<Exposure> {
        let bound = self.bind_args(name, &[("port", true)], args, span, None)?;
        let port = self.expect_int(bound.get("port")?, scope, 1, 65535, "a port")? as u16;
        let kind = match name {
            "load_balancer" => ExposureKind::LoadBalancer,
            "node_port" => ExposureKind::NodePort,
            _ => ExposureKind::ClusterIp,
        };
        Some(Exposure { kind, port })
    }

    /// `nginx(host = "…", class = "nginx")`, `nginx(ingress = "…")`,
    /// `istio(virtual_service = "…", routes = ["…"])`, `smi()`.
    pub(super) fn traffic_router(
        &mut self,
        name: &str,
        args: &[ast::Arg],
        span: Span,
        scope: &Scope,
    ) -> Option<hir::TrafficRouter> {
        let dns = |this: &mut Self, expr: &ast::Expr, what: &str| -> Option<String> {
            let text = this.expect_static_text(expr, scope, what)?;
            if crate::k8s_rules::dns1123_subdomain(&text) {
                Some(text)
            } else {
                this.invalid_name(expr.span, &text, what);
                None
            }
        };
        match name {
            "nginx" => {
                let bound = self.bind_args(
                    name,
                    &[("host", false), ("class", false), ("ingress", false)],
                    args,
                    span,
                    None,
                )?;
                let host = match bound.get("host") {
                    Some(e) => Some(dns(self, e, "an Ingress host")?),
                    None => None,
                };
                let ingress = match bound.get("ingress") {
                    Some(e) => Some(dns(self, e, "an Ingress name")?),
                    None => None,
                };
                let class = match bound.get("class") {
                    Some(e) => dns(self, e, "an IngressClass name")?,
                    None => "nginx".to_string(),
                };
                if ingress.is_some()
                    && let Some(class_arg) = bound.get("class")
                {
                    self.diags.push(
                        Diagnostic::new(Code::E0208, class_arg.span, "`class` applies to the Ingress pipec makes")
                            .label("the existing Ingress keeps its own class")
                            .help("remove `class`, or give `host` instead of `ingress` to have pipec make the Ingress"),
                    );
                    return None;
                }
                if host.is_some() == ingress.is_some() {
                    self.diags.push(
                        Diagnostic::new(Code::E0208, span, "`nginx` takes a `host` or an `ingress`")
                            .label(if host.is_some() { "both given" } else { "neither given" })
                            .help("`nginx(host = \"api.example.com\")` makes the Ingress; `nginx(ingress = \"api\")` uses one that exists"),
                    );
                    return None;
                }
                Some(hir::TrafficRouter::Nginx {
                    host,
                    class,
                    ingress,
                })
            }
            "istio" => {
                let bound = self.bind_args(
                    name,
                    &[("virtual_service", true), ("routes", false)],
                    args,
                    span,
                    None,
                )?;
                let virtual_service =
                    dns(self, bound.get("virtual_service")?, "a VirtualService name")?;
                let routes = match bound.get("routes") {
                    Some(e) => {
                        let value = self.eval(e, scope);
                        let Val::List(items) = value.val else {
                            self.mismatch(&value, "a list of route names");
                            return None;
                        };
                        let mut routes = Vec::new();
                        for item in items {
                            match &item.val {
                                Val::Str(t) => match t.as_static() {
                                    Some(r) => routes.push(r),
                                    None => self.needs_static(&item, "a route name"),
                                },
                                Val::Error => {}
                                _ => self.mismatch(&item, "a route name in quotes"),
                            }
                        }
                        routes
                    }
                    None => Vec::new(),
                };
                Some(hir::TrafficRouter::Istio {
                    virtual_service,
                    routes,
                })
            }
            _ => {
                self.bind_args(name, &[], args, span, None)?;
                Some(hir::TrafficRouter::Smi)
            }
        }
    }

    /// Matches call arguments to parameters `(name, required)`: positional first, then named.
    pub(super) fn bind_args<'e>(
        &mut self,
        callee: &str,
        params: &[(&str, bool)],
        args: &'e [ast::Arg],
        span: Span,
        defined_at: Option<Span>,
    ) -> Option<BTreeMap<String, &'e ast::Expr>> {
        let with_def = |d: Diagnostic| match defined_at {
            Some(def) => d.with_secondary(def, format!("`{callee}` is defined here")),
            None => d,
        };
        let mut bound: BTreeMap<String, &'e ast::Expr> = BTreeMap::new();
        let mut ok = true;
        let mut positional = 0;
        for arg in args {
            let name = match &arg.name {
                Some(n) => {
                    if !params.iter().any(|(p, _)| *p == n.name) {
                        let suggestion = did_you_mean(&n.name, params.iter().map(|(p, _)| *p));
                        self.diags.push(with_def(
                            Diagnostic::new(
                                Code::E0208,
                                n.span,
                                format!("`{callee}` has no parameter `{}`", n.name),
                            )
                            .label("unknown argument")
                            .help(match suggestion {
                                Some(s) => format!("did you mean `{s}`?"),
                                None => format!(
                                    "its parameters are: {}",
                                    params
                                        .iter()
                                        .map(|(p, _)| *p)
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            }),
                        ));
                        ok = false;
                        continue;
                    }
                    n.name.clone()
                }
                None => {
                    let Some((p, _)) = params.get(positional) else {
                        self.diags.push(with_def(
                            Diagnostic::new(
                                Code::E0208,
                                arg.value.span,
                                format!(
                                    "`{callee}` takes at most {} positional argument{}",
                                    params.len(),
                                    if params.len() == 1 { "" } else { "s" }
                                ),
                            )
                            .label("one argument too many")
                            .help("name the argument: `name = value`"),
                        ));
                        ok = false;
                        continue;
                    };
                    positional += 1;
                    (*p).to_string()
                }
            };
            if bound.contains_key(&name) {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0208,
                        arg.value.span,
                        format!("`{name}` is given twice"),
                    )
                    .label("given again")
                    .help("give each argument once"),
                );
                ok = false;
                continue;
            }
            bound.insert(name, &arg.value);
        }
        for (p, required) in params {
            if *required && !bound.contains_key(*p) {
                self.diags.push(with_def(
                    Diagnostic::new(Code::E0209, span, format!("`{callee}` needs `{p}`"))
                        .label(format!("`{p}` is missing"))
                        .help(format!("pass it: `{callee}({p} = …)`")),
                ));
                ok = false;
            }
        }
        ok.then_some(bound)
    }
}

/// The suffixes of Kubernetes' `resource.Quantity` and what they multiply by: binary Ki…Ei
/// powers of 1024, decimal m, k…E of 1000; the bare number last.
const QUANTITY_SUFFIXES: [(&str, f64); 14] = [
    ("Ki", 1024.0),
    ("Mi", 1_048_576.0),
    ("Gi", 1_073_741_824.0),
    ("Ti", 1_099_511_627_776.0),
    ("Pi", 1_125_899_906_842_624.0),
    ("Ei", 1_152_921_504_606_846_976.0),
    ("m", 1e-3),
    ("k", 1e3),
    ("M", 1e6),
    ("G", 1e9),
    ("T", 1e12),
    ("P", 1e15),
    ("E", 1e18),
    ("", 1.0),
];

/// The value of a quantity [`valid_quantity`] accepted, for comparisons.
fn quantity_value(q: &str) -> f64 {
    QUANTITY_SUFFIXES
        .iter()
        .find_map(|(suffix, scale)| Some(q.strip_suffix(suffix)?.parse::<f64>().ok()? * scale))
        .unwrap_or(0.0)
}

/// A Kubernetes resource quantity: a number with an optional suffix.
fn valid_quantity(q: &str) -> bool {
    QUANTITY_SUFFIXES.iter().any(|(s, _)| {
        q.strip_suffix(s).is_some_and(|n| {
            !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                && n.bytes().filter(|b| *b == b'.').count() <= 1
                && !n.starts_with('.')
                && !n.ends_with('.')
        })
    })
}

#[cfg(test)]
mod tests {
    use super::quantity_value;

    #[test]
    fn quantities_compare_as_kubernetes_reads_them() {
        assert!(quantity_value("1500m") > quantity_value("1"));
        assert!(quantity_value("2Gi") > quantity_value("2000M"));
        assert!(quantity_value("1Gi") > quantity_value("1G"));
        assert_eq!(quantity_value("250m"), 0.25);
        assert_eq!(quantity_value("1Ki"), 1024.0);
        assert_eq!(quantity_value("3"), 3.0);
    }
}
