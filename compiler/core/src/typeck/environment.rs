//! Checking `environment` declarations and what depends on them: where services run, and
//! which steps must wait for an ephemeral environment to be up.

use pipec_syntax::ast;

use super::{Checker, Scope, kebab};
use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::hir::{self, EnvId, EnvKind, ServiceId};
use crate::k8s_rules::dns1123_label;
use crate::schema;

/// Room an ephemeral namespace name `<run name>-<environment>` needs beyond the two names: a
/// run is named `<pipeline>-` plus five characters, or `<pipeline>-<10-digit timestamp>` when
/// a CronWorkflow starts it.
const EPHEMERAL_OVERHEAD: usize = "-0123456789-".len();

impl Checker<'_, '_> {
    pub(super) fn check_environment(
        &mut self,
        id: EnvId,
        decl: &ast::EnvironmentDecl,
        pipeline_name: &str,
    ) -> Option<hir::Environment> {
        let k8s_name = self.k8s_name(&decl.name, "environment");
        let fields = self.fields(
            &decl.body.properties,
            &[schema::ENVIRONMENT],
            decl.name.span,
            "an environment",
            decl.body.recovered,
        );
        let scope = Scope::Pipeline;
        let ephemeral = match fields.get("ephemeral") {
            // A mistyped `ephemeral` is reported; guessing its meaning would only add noise.
            Some(p) => self.expect_bool(&p.value, &scope)?,
            None => false,
        };
        let namespace = fields.get("namespace");
        let kubeconfig = match fields.get("kubeconfig") {
            Some(p) => {
                let value = self.eval(&p.value, &scope);
                match value.val {
                    super::value::Val::SecretKey(key) if !ephemeral => Some(key),
                    super::value::Val::SecretKey(_) => {
                        self.diags.push(
                            Diagnostic::new(Code::E0212, p.span, "an ephemeral environment lives in the Workflow's cluster")
                                .label("not with `ephemeral`")
                                .help("its namespace, Secrets and tests are all made where the run runs; give `kubeconfig` to a long-lived environment"),
                        );
                        return None;
                    }
                    super::value::Val::Error => return None,
                    _ => {
                        self.mismatch(&value, "a secret key (`SECRET.KEY`) holding a kubeconfig");
                        return None;
                    }
                }
            }
            None => None,
        };
        let kind = match (namespace, ephemeral) {
            (Some(ns), true) => {
                self.diags.push(
                    Diagnostic::new(Code::E0212, ns.span, "an ephemeral environment has no fixed namespace")
                        .label("each run gets a fresh namespace instead")
                        .help("remove `namespace` (the run's namespace is `<run name>-<environment>`), or remove `ephemeral`"),
                );
                return None;
            }
            (Some(ns), false) => {
                let name =
                    self.expect_static_text(&ns.value, &scope, "an environment's namespace")?;
                if !dns1123_label(&name) {
                    self.invalid_name(ns.value.span, &name, "a namespace");
                    return None;
                }
                EnvKind::Named {
                    namespace: name,
                    kubeconfig,
                }
            }
            (None, true) => {
                let length = kebab(pipeline_name).len() + EPHEMERAL_OVERHEAD + k8s_name.len();
                if length > 63 {
                    self.diags.push(
                        Diagnostic::new(Code::E0109, decl.name.span, format!("the namespaces of `{}` would be too long", decl.name.name))
                            .label(format!("`<run name>-{k8s_name}` can reach {length} characters; Kubernetes allows 63"))
                            .help("shorten the environment's or the pipeline's name"),
                    );
                    return None;
                }
                EnvKind::Ephemeral
            }
            (None, false) => {
                self.diags.push(
                    Diagnostic::new(Code::E0206, decl.name.span, format!("environment `{}` needs a namespace", decl.name.name))
                        .label("no `namespace` and not `ephemeral`")
                        .help("add `namespace = \"…\"` for a long-lived environment, or `ephemeral = true` for one made per run"),
                );
                return None;
            }
        };
        Some(hir::Environment {
            id,
            name: decl.name.name.clone(),
            k8s_name,
            span: decl.name.span,
            kind,
        })
    }

    /// The ephemeral environment a service runs in, if any. Read from the declarations, so
    /// steps checked before the services already know.
    pub(super) fn ephemeral_env_of(&self, service: ServiceId) -> Option<EnvId> {
        let env = *self.service_envs.get(&service)?;
        (self.env_kinds.get(env.0) == Some(&Some(EnvKind::Ephemeral))).then_some(env)
    }

    /// The environment in another cluster a service runs in, if any.
    pub(super) fn remote_env_of(&self, service: ServiceId) -> Option<EnvId> {
        let env = *self.service_envs.get(&service)?;
        matches!(
            self.env_kinds.get(env.0),
            Some(Some(EnvKind::Named {
                kubeconfig: Some(_),
                ..
            }))
        )
        .then_some(env)
    }

    /// Which environment each service declares, before services are checked.
    pub(super) fn collect_service_envs(&mut self, decls: &[&ast::ServiceDecl]) {
        for (index, decl) in decls.iter().enumerate() {
            let env = decl
                .body
                .properties
                .iter()
                .find(|p| p.name.name == "environment")
                .and_then(|p| match &p.value.kind {
                    ast::ExprKind::Path(path) if path.len() == 1 => {
                        self.env_ids.get(&path[0].name).copied()
                    }
                    _ => None,
                });
            if let Some(env) = env {
                self.service_envs.insert(ServiceId(index), env);
            }
        }
    }
}
