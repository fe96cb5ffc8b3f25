//! Checking `image` and `step` declarations: the nodes of the pipeline DAG.

use pipec_syntax::ast::{self, NodeKeyword, NodeValue};

use super::value::Val;
use super::{Checker, Scope, kebab};
use crate::codes::Code;
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::hir::{self, ImageName, ImageRef, NodeId, NodeKind, Template, Var};
use crate::schema;

impl Checker<'_, '_> {
    /// The image a node stands for, as other declarations see it.
    pub(super) fn image_of_node(&mut self, id: NodeId) -> ImageRef {
        self.image_name(id);
        match self.image_aliases.get(&id) {
            Some(Some(alias)) => alias.clone(),
            _ => ImageRef::Node(id),
        }
    }

    /// The `repo:tag` text of an image reference.
    pub(super) fn image_reference(&mut self, image: &ImageRef) -> Template {
        match image {
            ImageRef::External(t) => t.clone(),
            ImageRef::Node(id) => {
                self.referenced.push(*id);
                match self.image_name(*id) {
                    Some(name) => name.reference(),
                    None => Template::default(),
                }
            }
        }
    }

    /// Computes (once) the image an image node produces, or its alias.
    pub(super) fn image_name(&mut self, id: NodeId) -> Option<ImageName> {
        if let Some(memo) = self.image_names.get(&id) {
            return memo.clone();
        }
        let (decl, _) = *self.node_decls.get(id.0)?;
        if decl.keyword != NodeKeyword::Image {
            self.image_names.insert(id, None);
            return None;
        }
        if !self.resolving.insert(id) {
            self.diags.push(
                Diagnostic::new(
                    Code::E0304,
                    decl.name.span,
                    format!("image `{}` is defined in terms of itself", decl.name.name),
                )
                .label("part of a cycle of image definitions")
                .help("define one of the images from a name or a build"),
            );
            self.image_names.insert(id, None);
            return None;
        }
        let saved = std::mem::take(&mut self.referenced);
        let result = match &decl.value {
            NodeValue::Expr(expr) => {
                let alias = self.expect_image(expr, &Scope::Pipeline);
                let name = match &alias {
                    Some(ImageRef::Node(other)) => self.image_name(*other),
                    _ => None,
                };
                self.image_aliases.insert(id, alias);
                name
            }
            NodeValue::Action(action) => match action.verb.name.as_str() {
                "build" => self.build_image_name(action),
                "push" => self.push_image_name(action),
                _ => None,
            },
        };
        self.referenced = saved;
        self.resolving.remove(&id);
        self.image_names.insert(id, result.clone());
        result
    }

    fn property<'p>(action: &'p ast::Action, name: &str) -> Option<&'p ast::Property> {
        action
            .body
            .as_ref()
            .and_then(|b| b.properties.iter().find(|p| p.name.name == name))
    }

    fn build_image_name(&mut self, action: &ast::Action) -> Option<ImageName> {
        let repo = Self::property(action, "repo")?;
        let repo = self
            .expect_text(&repo.value, &Scope::Pipeline)
            .filter(|t| self.check_no_template_tags(t, repo.value.span))?;
        let tag = match Self::property(action, "tag") {
            Some(tag) => self
                .expect_text(&tag.value, &Scope::Pipeline)
                .filter(|t| self.check_no_template_tags(t, tag.value.span))?,
            None => Template::var(Var::RunId),
        };
        Some(ImageName { repo, tag })
    }

    fn push_image_name(&mut self, action: &ast::Action) -> Option<ImageName> {
        let to = Self::property(action, "to")?;
        let repo = self
            .expect_text(&to.value, &Scope::Pipeline)
            .filter(|t| self.check_no_template_tags(t, to.value.span))?;
        let tag = match Self::property(action, "tag") {
            Some(tag) => self
                .expect_text(&tag.value, &Scope::Pipeline)
                .filter(|t| self.check_no_template_tags(t, tag.value.span))?,
            None => {
                let source = action.subject.as_ref()?;
                match self.expect_image(source, &Scope::Pipeline)? {
                    ImageRef::Node(src) => self.image_name(src)?.tag,
                    ImageRef::External(text) => match split_tag(&text) {
                        Some(tag) => tag,
                        None => {
                            self.diags.push(
                                Diagnostic::new(Code::E0206, source.span, "the image to push has no tag to keep")
                                    .label("no `:tag` in this image name")
                                    .help("add `tag = …` to the push, or name the source image with its tag"),
                            );
                            return None;
                        }
                    },
                }
            }
        };
        Some(ImageName { repo, tag })
    }

    /// Checks one declaration; `None` for image aliases (they are not DAG nodes) and errors.
    pub(super) fn check_node(&mut self, id: NodeId) -> Option<hir::Node> {
        let (decl, in_handler) = *self.node_decls.get(id.0)?;
        let action = match &decl.value {
            NodeValue::Action(a) => a,
            NodeValue::Expr(e) => {
                if decl.keyword == NodeKeyword::Step {
                    self.diags.push(
                        Diagnostic::new(Code::E0210, e.span, "a step is made by an action")
                            .label("not an action")
                            .help("write `step NAME = run IMAGE { command = \"…\" }`"),
                    );
                }
                return None;
            }
        };
        self.k8s_name(&decl.name, "workflow step");
        let verbs = match decl.keyword {
            NodeKeyword::Image => schema::IMAGE_ACTIONS,
            NodeKeyword::Step => schema::STEP_ACTIONS,
        };
        let verb = action.verb.name.as_str();
        if !verbs.contains(&verb) {
            let other: &[&str] = match decl.keyword {
                NodeKeyword::Image => schema::STEP_ACTIONS,
                NodeKeyword::Step => schema::IMAGE_ACTIONS,
            };
            let help = if other.contains(&verb) {
                match decl.keyword {
                    NodeKeyword::Image => format!(
                        "`{verb}` makes a step: write `step {} = {verb} …`",
                        decl.name.name
                    ),
                    NodeKeyword::Step => format!(
                        "`{verb}` makes an image: write `image {} = {verb} …`",
                        decl.name.name
                    ),
                }
            } else {
                match did_you_mean(verb, verbs.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("use one of: {}", verbs.join(", ")),
                }
            };
            self.diags.push(
                Diagnostic::new(
                    Code::E0210,
                    action.verb.span,
                    format!("unknown action `{verb}`"),
                )
                .label(match decl.keyword {
                    NodeKeyword::Image => "not an image action",
                    NodeKeyword::Step => "not a step action",
                })
                .help(help),
            );
            return None;
        }

        let table = match verb {
            "build" => schema::BUILD,
            "push" => schema::PUSH,
            "exec" => schema::EXEC,
            _ => schema::RUN,
        };
        let empty = Vec::new();
        let props = action.body.as_ref().map_or(&empty, |b| &b.properties);
        let recovered = action.body.as_ref().is_some_and(|b| b.recovered);
        let owner = action.verb.span;
        let fields = self.fields(
            props,
            &[table, schema::NODE_COMMON],
            owner,
            &format!("`{verb}`"),
            recovered,
        );

        self.referenced.clear();
        self.released.clear();
        let kind = match verb {
            "build" => self.check_build(id, action, &fields),
            "push" => self.check_push(id, action, &fields),
            "exec" => self.check_exec(action, &fields),
            _ => self.check_run(action, &fields),
        };
        let mut needs = std::mem::take(&mut self.referenced);

        let scope = Scope::Pipeline;
        let mut after_releases = std::mem::take(&mut self.released);
        if let Some(after) = fields.get("after") {
            let (steps, services) = self.expect_after(&after.value, &scope, true);
            needs.extend(steps);
            after_releases.extend(services);
        }
        after_releases.sort();
        after_releases.dedup();
        // Conditions may test step results; those become `depends`, not data needs.
        let when = fields.get("when").and_then(|w| {
            let c = self.condition_of(&w.value, &scope)?;
            self.check_condition_shape(&c, w.value.span).then_some(c)
        });
        self.referenced.clear();
        let retries = fields
            .get("retries")
            .and_then(|r| self.expect_int(&r.value, &scope, 0, 20, "`retries`"))
            .map(|r| r as u32);
        let timeout = fields
            .get("timeout")
            .and_then(|t| self.expect_duration(&t.value, &scope, "`timeout`"));
        let irreversible = fields
            .get("irreversible")
            .and_then(|i| self.expect_bool(&i.value, &scope))
            .unwrap_or(false);
        needs.retain(|n| *n != id);
        needs.sort();
        needs.dedup();
        Some(hir::Node {
            id,
            name: kebab(&decl.name.name),
            span: decl.name.span,
            kind: kind?,
            when,
            needs,
            after_releases,
            retries,
            timeout,
            irreversible,
            in_handler,
        })
    }

    fn check_build(
        &mut self,
        id: NodeId,
        action: &ast::Action,
        fields: &std::collections::BTreeMap<&'static str, &ast::Property>,
    ) -> Option<NodeKind> {
        let scope = Scope::Pipeline;
        let context = match &action.subject {
            Some(subject) => {
                let t = self.expect_text(subject, &scope)?;
                self.check_no_template_tags(&t, subject.span);
                t
            }
            None => Template::lit("."),
        };
        if self.res.pipeline.is_some_and(|p| !has_repo(p)) {
            self.diags.push(
                Diagnostic::new(
                    Code::E0308,
                    action.verb.span,
                    "this build has no source to build from",
                )
                .label("builds check out the pipeline's repository")
                .help("set `repo = \"https://…/your-repo.git\"` in the pipeline"),
            );
        }
        let dockerfile = match fields.get("dockerfile") {
            Some(p) => self
                .expect_text(&p.value, &scope)
                .filter(|t| self.check_no_template_tags(t, p.value.span))?,
            None => Template::lit("Dockerfile"),
        };
        let cache = match fields.get("cache") {
            Some(p) => Some(
                self.expect_text(&p.value, &scope)
                    .filter(|t| self.check_no_template_tags(t, p.value.span))?,
            ),
            None => None,
        };
        let args = match fields.get("args") {
            Some(p) => self.text_record(&p.value)?,
            None => Vec::new(),
        };
        let auth = match fields.get("auth") {
            Some(p) => Some(self.expect_registry_auth(&p.value, &scope)?),
            None => None,
        };
        let target = self.image_name(id)?;
        Some(NodeKind::Build {
            context,
            dockerfile,
            target,
            cache,
            args,
            auth,
        })
    }

    fn check_push(
        &mut self,
        id: NodeId,
        action: &ast::Action,
        fields: &std::collections::BTreeMap<&'static str, &ast::Property>,
    ) -> Option<NodeKind> {
        let scope = Scope::Pipeline;
        let Some(subject) = &action.subject else {
            self.diags.push(
                Diagnostic::new(
                    Code::E0206,
                    action.verb.span,
                    "`push` needs the image to copy",
                )
                .label("no image given")
                .help("write `push IMAGE { to = \"registry/repo\" }`"),
            );
            return None;
        };
        let source = self.expect_image(subject, &scope)?;
        if let ImageRef::Node(id) = &source {
            self.referenced.push(*id);
        }
        let auth = match fields.get("auth") {
            Some(p) => Some(self.expect_registry_auth(&p.value, &scope)?),
            None => None,
        };
        let source_auth = match fields.get("from_auth") {
            Some(p) => Some(self.expect_registry_auth(&p.value, &scope)?),
            None => None,
        };
        let target = self.image_name(id)?;
        Some(NodeKind::Push {
            source,
            target,
            auth,
            source_auth,
        })
    }

    /// `exec SERVICE { command }`: runs in a pod of the service once its release is complete.
    fn check_exec(
        &mut self,
        action: &ast::Action,
        fields: &std::collections::BTreeMap<&'static str, &ast::Property>,
    ) -> Option<NodeKind> {
        let scope = Scope::Pipeline;
        let Some(subject) = &action.subject else {
            self.diags.push(
                Diagnostic::new(
                    Code::E0206,
                    action.verb.span,
                    "`exec` needs the service to run in",
                )
                .label("no service given")
                .help("write `exec SERVICE { command = \"…\" }`"),
            );
            return None;
        };
        let value = self.eval(subject, &scope);
        let service = match value.val {
            Val::Service(id) => id,
            Val::Error => return None,
            _ => {
                self.mismatch(&value, "a service");
                return None;
            }
        };
        self.released.push(service);
        let command = fields
            .get("command")
            .and_then(|p| self.expect_text(&p.value, &scope))?;
        Some(NodeKind::Exec { service, command })
    }

    fn check_run(
        &mut self,
        action: &ast::Action,
        fields: &std::collections::BTreeMap<&'static str, &ast::Property>,
    ) -> Option<NodeKind> {
        let scope = Scope::Pipeline;
        let Some(subject) = &action.subject else {
            self.diags.push(
                Diagnostic::new(Code::E0206, action.verb.span, "`run` needs the image to run in")
                    .label("no image given")
                    .help("write `run IMAGE { command = \"…\" }`, e.g. `run app` or `run \"alpine:3.20\"`"),
            );
            return None;
        };
        let image = self.expect_image(subject, &scope)?;
        if let ImageRef::Node(id) = &image {
            self.referenced.push(*id);
        }
        let command = fields
            .get("command")
            .and_then(|p| self.expect_text(&p.value, &scope));
        let env = match fields.get("env") {
            Some(p) => self.env_record(&p.value, true)?,
            None => Vec::new(),
        };
        let workdir = match fields.get("workdir") {
            Some(p) => Some(
                self.expect_text(&p.value, &scope)
                    .filter(|t| self.check_no_template_tags(t, p.value.span))?,
            ),
            None => None,
        };
        Some(NodeKind::Run {
            image,
            command: command?,
            env,
            workdir,
        })
    }

    /// A record of text values (build args).
    fn text_record(&mut self, expr: &ast::Expr) -> Option<Vec<(String, Template)>> {
        let value = self.eval(expr, &Scope::Pipeline);
        let Val::Record(fields) = value.val else {
            self.mismatch(&value, "a record `{ NAME = value, … }`");
            return None;
        };
        let mut out = Vec::new();
        for (name, v) in fields {
            if let Some(t) = self.as_text(&v)
                && self.check_no_template_tags(&t, v.span)
            {
                out.push((name.name, t));
            }
        }
        Some(out)
    }

    /// A record of environment variables: text or secret keys. `runtime` allows values only
    /// known when the pipeline runs (in steps; not in services).
    pub(super) fn env_record(
        &mut self,
        expr: &ast::Expr,
        runtime: bool,
    ) -> Option<Vec<hir::EnvVar>> {
        let value = self.eval(expr, &Scope::Pipeline);
        let Val::Record(fields) = value.val else {
            if !value.is_error() {
                self.mismatch(&value, "a record `{ NAME = value, … }`");
            }
            return None;
        };
        let mut out = Vec::new();
        for (name, v) in fields {
            if !valid_env_name(&name.name) {
                self.diags.push(
                    Diagnostic::new(Code::E0109, name.span, format!("`{}` is not a valid environment variable name", name.name))
                        .label("invalid name")
                        .help("environment variable names are letters, digits and `_`, not starting with a digit"),
                );
                continue;
            }
            let env_value = match &v.val {
                Val::SecretKey(key) => hir::EnvValue::Secret(key.clone()),
                Val::Error => continue,
                _ => {
                    if !runtime && v.is_runtime() {
                        self.needs_static(&v, "an environment variable of a service");
                        continue;
                    }
                    let Some(text) = self.as_text(&v) else {
                        continue;
                    };
                    if !self.check_no_template_tags(&text, v.span) {
                        continue;
                    }
                    hir::EnvValue::Text(text)
                }
            };
            out.push(hir::EnvVar {
                name: name.name,
                value: env_value,
            });
        }
        Some(out)
    }
}

impl Checker<'_, '_> {
    /// Step results may be joined to data tests by `and` only: they become `depends`, the data
    /// tests `when`, and Argo combines the two with `and`.
    fn check_condition_shape(
        &mut self,
        condition: &hir::Condition,
        span: pipec_syntax::Span,
    ) -> bool {
        let mut conjuncts = Vec::new();
        flatten_and(condition, &mut conjuncts);
        let mut ok = true;
        for c in conjuncts {
            if c.has_step_results() && !c.only_step_results() {
                self.diags.push(
                    Diagnostic::new(Code::E0305, span, "this condition mixes a step result with other tests under `or` or `not`")
                        .label("Argo cannot express this combination")
                        .help("test step results (`step.passed`, `step.failed`) alone or joined with `and`; use `.failed` instead of `not …passed`"),
                );
                ok = false;
            }
            if c.uses_var(&Var::RunTimestamp) {
                self.diags.push(
                    Diagnostic::new(Code::E0212, span, "`run.timestamp` cannot be tested in a condition")
                        .label("only available as text")
                        .help("use `run.timestamp` in tags and commands; conditions test branches, tags, params and step results"),
                );
                ok = false;
            }
        }
        ok
    }
}

fn flatten_and<'c>(c: &'c hir::Condition, out: &mut Vec<&'c hir::Condition>) {
    match c {
        hir::Condition::And(a, b) => {
            flatten_and(a, out);
            flatten_and(b, out);
        }
        other => out.push(other),
    }
}

fn has_repo(p: &ast::Pipeline) -> bool {
    p.members
        .iter()
        .any(|m| matches!(m, ast::Member::Setting(s) if s.name.name == "repo"))
}

fn valid_env_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
}

/// The tag of a literal image name (`nginx:1.27` → `1.27`), if it has one.
fn split_tag(image: &Template) -> Option<Template> {
    let text = image.as_static()?;
    let last = text.rsplit('/').next()?;
    let (_, tag) = last.split_once(':')?;
    if tag.is_empty() {
        return None;
    }
    Some(Template::lit(tag))
}
