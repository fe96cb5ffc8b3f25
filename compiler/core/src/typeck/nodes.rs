//! Checking `image` and `step` declarations: the nodes of the pipeline DAG.

use crate::k8s_rules::{self, ImagePart};
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
            // A use of a definition that could not be expanded; reported by the resolver.
            NodeValue::Template { .. } => None,
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

    /// A repository or tag property of a build or push: text Argo can carry, and a valid
    /// part of an image reference when it is known at compile time.
    fn image_field(&mut self, prop: &ast::Property, part: ImagePart) -> Option<Template> {
        let span = prop.value.span;
        self.expect_text(&prop.value, &Scope::Pipeline)
            .filter(|t| self.check_no_template_tags(t, span))
            .filter(|t| self.check_image_text(t, span, part))
    }

    /// A build's or push's `tag`: checked like the other image fields, its run-time values
    /// made tag-safe.
    fn image_tag(&mut self, prop: &ast::Property) -> Option<Template> {
        let tag = self.image_field(prop, ImagePart::Tag)?;
        match tag_safe(tag) {
            Ok(tag) => Some(tag),
            Err(longest) => {
                self.diags.push(
                    Diagnostic::new(Code::E0212, prop.value.span, "this tag can be longer than an image tag may be")
                        .label(format!("can reach {longest} characters; a tag has at most {}", pipec_argo_model::image_tag::TAG_MAX))
                        .help("shorten the text around the values (a commit is up to 64 characters, a run name 63)"),
                );
                None
            }
        }
    }

    fn build_image_name(&mut self, action: &ast::Action) -> Option<ImageName> {
        let repo = Self::property(action, "repo")?;
        let repo = self.image_field(repo, ImagePart::Repository)?;
        let tag = match Self::property(action, "tag") {
            Some(tag) => self.image_tag(tag)?,
            None => Template::var(Var::RunId),
        };
        Some(ImageName { repo, tag })
    }

    fn push_image_name(&mut self, action: &ast::Action) -> Option<ImageName> {
        let to = Self::property(action, "to")?;
        let repo = self.image_field(to, ImagePart::Repository)?;
        let tag = match Self::property(action, "tag") {
            Some(tag) => self.image_tag(tag)?,
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
    /// A declaration expanded from a `step` definition has its arguments checked first.
    pub(super) fn check_node(&mut self, id: NodeId) -> Option<hir::Node> {
        let (decl, _) = *self.node_decls.get(id.0)?;
        let Some(instance) = self.instances.get(&decl.name.name).cloned() else {
            return self.check_node_decl(id);
        };
        if !self.check_instance_args(&instance) {
            return None;
        }
        let mark = self.diags.len();
        let node = self.check_node_decl(id);
        self.blame_use(mark, &instance);
        node
    }

    fn check_node_decl(&mut self, id: NodeId) -> Option<hir::Node> {
        let (decl, in_handler) = *self.node_decls.get(id.0)?;
        let action = match &decl.value {
            NodeValue::Action(a) => a,
            NodeValue::Template { call, .. } => {
                // Not expanded: its definition is unknown or not a step (reported).
                self.mark_used(&call.args);
                return None;
            }
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
        self.env_up.clear();
        let kind = match verb {
            "build" => self.check_build(id, in_handler, action, &fields),
            "push" => self.check_push(id, action, &fields),
            "exec" => self.check_exec(action, &fields),
            _ => self.check_run(id, in_handler, action, &fields),
        };
        let mut needs = std::mem::take(&mut self.referenced);

        let scope = Scope::Pipeline;
        let mut after_releases = std::mem::take(&mut self.released);
        if let Some(after) = fields.get("after") {
            let (steps, services) = self.expect_after(&after.value, &scope);
            needs.extend(steps);
            after_releases.extend(services);
        }
        // Services of an ephemeral environment have no release: waiting for one means waiting
        // for its environment to be up.
        let mut after_envs = std::mem::take(&mut self.env_up);
        after_releases.retain(|service| match self.ephemeral_env_of(*service) {
            Some(env) => {
                after_envs.push(env);
                false
            }
            None => true,
        });
        after_releases.sort();
        after_releases.dedup();
        // Conditions may test step results; those become `depends`, not data needs.
        let when = fields.get("when").and_then(|w| {
            if in_handler {
                // The exit handler runs its steps in order whatever failed; a condition would
                // have to be dropped, and a step that silently always runs is worse than an error.
                self.diags.push(
                    Diagnostic::new(Code::E0212, w.name.span, "a step in `on failure` cannot have `when`")
                        .label("the failure handler runs each of its steps, in order")
                        .help("remove `when`, or declare the step outside `on failure` with `when = …failed`"),
                );
                return None;
            }
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
        // Data tests in `when` may read service addresses too.
        after_envs.append(&mut self.env_up);
        after_envs.sort();
        after_envs.dedup();
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
            after_envs,
            retries,
            timeout,
            irreversible,
            in_handler,
        })
    }

    fn check_build(
        &mut self,
        id: NodeId,
        in_handler: bool,
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
        let inputs = match fields.get("inputs") {
            Some(p) => self.check_inputs(id, in_handler, &p.value, InputsOf::Build)?,
            None => Vec::new(),
        };
        let target = self.image_name(id)?;
        Some(NodeKind::Build {
            context,
            dockerfile,
            target,
            cache,
            args,
            auth,
            inputs,
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
        if self.ephemeral_env_of(service).is_some() {
            self.diags.push(
                Diagnostic::new(
                    Code::E0212,
                    subject.span,
                    "`exec` runs in a released service's pods",
                )
                .label("this service runs in an ephemeral environment, without a release")
                .help(
                    "run a step against it instead: `run IMAGE { command = \"… ${db.host} …\" }`",
                ),
            );
            return None;
        }
        self.released.push(service);
        let command = fields
            .get("command")
            .and_then(|p| self.expect_text(&p.value, &scope))?;
        Some(NodeKind::Exec { service, command })
    }

    fn check_run(
        &mut self,
        id: NodeId,
        in_handler: bool,
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
        let checkout = fields
            .get("checkout")
            .and_then(|p| self.expect_bool(&p.value, &scope))
            .unwrap_or(false);
        if checkout && self.res.pipeline.is_some_and(|p| !has_repo(p)) {
            let span = fields.get("checkout").map_or(action.verb.span, |p| p.span);
            self.diags.push(
                Diagnostic::new(
                    Code::E0308,
                    span,
                    "this step checks out a repository the pipeline does not name",
                )
                .label("needs the pipeline's `repo`")
                .help("set `repo = \"https://…/your-repo.git\"` in the pipeline"),
            );
        }
        let workdir = match fields.get("workdir") {
            Some(p) => Some(
                self.expect_text(&p.value, &scope)
                    .filter(|t| self.check_no_template_tags(t, p.value.span))?,
            ),
            None => None,
        };
        let static_workdir = workdir.as_ref().map(Template::as_static);
        let base = working_dir(static_workdir.as_ref().map(|w| w.as_deref()), checkout);
        let workdir = match (&base, workdir) {
            (Some(base), _) => Some(Template::lit(base)),
            (None, Some(workdir)) if !starts_absolute(&workdir) => {
                let span = fields
                    .get("workdir")
                    .map_or(action.verb.span, |p| p.value.span);
                self.diags.push(
                    Diagnostic::new(Code::E0212, span, "a step's working directory must be an absolute path")
                        .label(if checkout { "starts with a run-time value, which may not begin with `/`" } else { "relative, and the step has no checkout to be relative to" })
                        .help(if checkout { "start it with the directory itself, e.g. \"/workspace/${…}\" (the checkout is /workspace)" } else { "write the directory from `/`, or set `checkout = true` to make a literal relative path point inside the checkout" }),
                );
                return None;
            }
            (None, workdir) => workdir,
        };
        let outputs = match fields.get("outputs") {
            Some(p) => self.check_outputs(&p.value, base.as_deref())?,
            None => Vec::new(),
        };
        let inputs = match fields.get("inputs") {
            Some(p) => self.check_inputs(id, in_handler, &p.value, InputsOf::Run)?,
            None => Vec::new(),
        };
        Some(NodeKind::Run {
            image,
            command: command?,
            env,
            workdir,
            checkout,
            outputs,
            inputs,
        })
    }

    /// `outputs = { NAME = "path" }`: static paths, made absolute against the working
    /// directory, so a consumer knows where the file lands before anything runs.
    fn check_outputs(&mut self, expr: &ast::Expr, base: Option<&str>) -> Option<Vec<hir::Output>> {
        let value = self.eval(expr, &Scope::Pipeline);
        let Val::Record(fields) = value.val else {
            self.mismatch(&value, "a record `{ NAME = \"path\", … }`");
            return None;
        };
        let mut out = Vec::new();
        for (name, v) in fields {
            let raw = match &v.val {
                Val::Str(t) => match t.as_static() {
                    Some(raw) => raw,
                    None => {
                        self.needs_static_because(&v, "an output's path", "the steps that use the output are told where it lands when the pipeline is compiled: write the path itself");
                        continue;
                    }
                },
                Val::Error => continue,
                _ => {
                    self.mismatch(&v, "a path in quotes");
                    continue;
                }
            };
            if !self.check_no_template_tags(&Template::lit(raw.clone()), v.span) {
                continue;
            }
            match output_path(&raw, base) {
                Ok(path) => out.push(hir::Output {
                    name: name.name,
                    path,
                }),
                Err(reason) => self.diags.push(
                    Diagnostic::new(
                        Code::E0212,
                        v.span,
                        format!("`{raw}` cannot be an output's path"),
                    )
                    .label(reason.label())
                    .help(reason.help()),
                ),
            }
        }
        Some(out)
    }

    /// `inputs = [STEP.NAME, …]`: each output lands where its step made it, and the step
    /// waits for the steps it takes files from.
    fn check_inputs(
        &mut self,
        id: NodeId,
        in_handler: bool,
        expr: &ast::Expr,
        of: InputsOf,
    ) -> Option<Vec<hir::InputFile>> {
        let value = self.eval(expr, &Scope::Pipeline);
        let items = match value.val {
            Val::List(items) => items,
            Val::Output(_) => vec![value],
            Val::Error => return None,
            _ => {
                self.mismatch(&value, "a list of step outputs `[STEP.NAME, …]`");
                return None;
            }
        };
        let mut out: Vec<hir::InputFile> = Vec::new();
        for item in items {
            let input = match item.val {
                Val::Output(input) => input,
                Val::Error => continue,
                _ => {
                    self.mismatch(&item, "a step's output `STEP.NAME`");
                    continue;
                }
            };
            let producer = self.node_decls.get(input.node.0).copied();
            if input.node == id {
                self.diags.push(
                    Diagnostic::new(Code::E0304, item.span, "a step cannot take its own output")
                        .label("made by this same step")
                        .help("name the output of an earlier step"),
                );
                continue;
            }
            if let Some((decl, producer_in_handler)) = producer
                && in_handler
                && !producer_in_handler
            {
                self.diags.push(
                    Diagnostic::new(Code::E0212, item.span, "`on failure` steps cannot take files from the pipeline's steps")
                        .label(format!("made by `{}`, which may not have run", decl.name.name))
                        .help("hand the file on inside the pipeline, or produce it in an `on failure` step"),
                );
                continue;
            }
            if of == InputsOf::Build && !input.path.starts_with(&format!("{}/", hir::WORKSPACE)) {
                self.diags.push(
                    Diagnostic::new(Code::E0212, item.span, format!("`{}` would land outside the build's checkout", input.path))
                        .label(format!("a build sees only {}", hir::WORKSPACE))
                        .help("make the file inside the producing step's checkout: `checkout = true` and a relative path"),
                );
                continue;
            }
            if let Some(other) = out.iter().find(|o| o.path == input.path) {
                let other_name = self
                    .node_decls
                    .get(other.node.0)
                    .map_or(String::new(), |(d, _)| d.name.name.clone());
                self.diags.push(
                    Diagnostic::new(
                        Code::E0212,
                        item.span,
                        format!("two inputs land at `{}`", input.path),
                    )
                    .label(format!("so does `{other_name}.{}`", other.output))
                    .help("give the outputs different paths"),
                );
                continue;
            }
            self.referenced.push(input.node);
            out.push(input);
        }
        Some(out)
    }

    /// The outputs a `run` step declares, with absolute paths, as other steps see them.
    /// Declarations that are not valid are left out here and reported by [`Self::check_outputs`].
    pub(super) fn declared_outputs(&mut self, id: NodeId) -> Vec<hir::Output> {
        if let Some(memo) = self.outputs_memo.get(&id) {
            return memo.clone();
        }
        let outputs = self
            .node_decls
            .get(id.0)
            .and_then(|(decl, _)| match &decl.value {
                NodeValue::Action(a) if a.verb.name == "run" => Some(a),
                _ => None,
            })
            .map(|action| {
                let literal = |name: &str| {
                    Self::property(action, name).map(|p| match &p.value.kind {
                        ast::ExprKind::Str(s) => s.as_plain(),
                        _ => None,
                    })
                };
                let checkout = Self::property(action, "checkout")
                    .is_some_and(|p| matches!(p.value.kind, ast::ExprKind::Bool(true)));
                let workdir = literal("workdir");
                let base = working_dir(workdir.as_ref().map(|w| w.as_deref()), checkout);
                let Some(ast::ExprKind::Record(props)) =
                    Self::property(action, "outputs").map(|p| &p.value.kind)
                else {
                    return Vec::new();
                };
                props
                    .iter()
                    .filter_map(|p| {
                        let ast::ExprKind::Str(raw) = &p.value.kind else {
                            return None;
                        };
                        let path = output_path(&raw.as_plain()?, base.as_deref()).ok()?;
                        Some(hir::Output {
                            name: p.name.name.clone(),
                            path,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.outputs_memo.insert(id, outputs.clone());
        outputs
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
            if let Some(prefix) = k8s_rules::RESERVED_ENV_PREFIXES
                .iter()
                .find(|p| name.name.starts_with(**p))
            {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0109,
                        name.span,
                        format!("`{}` is a name pipec uses itself", name.name),
                    )
                    .label(format!(
                        "pipec passes values to commands in `{prefix}…` variables"
                    ))
                    .help("choose a name that does not start with `PIPEC_`"),
                );
                continue;
            }
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

/// Which kind of step takes the inputs: a build sees only its checkout.
#[derive(Clone, Copy, PartialEq, Eq)]
enum InputsOf {
    Run,
    Build,
}

/// The absolute working directory of a step, when known at compile time: an absolute
/// `workdir`, or one inside the checkout.
/// Whether a run-time working directory is absolute whatever its values are: the OCI
/// runtime spec (`config.md`, `process.cwd`) says "This value MUST be an absolute path", and
/// runc refuses to start a container whose `workingDir` is relative.
fn starts_absolute(workdir: &Template) -> bool {
    matches!(workdir.pieces.first(), Some(hir::Piece::Lit(t)) if t.starts_with('/'))
}

fn working_dir(workdir: Option<Option<&str>>, checkout: bool) -> Option<String> {
    match workdir {
        Some(Some(w)) if w.starts_with('/') => normalize(w).ok(),
        Some(Some(w)) if checkout => normalize(&format!("{}/{w}", hir::WORKSPACE)).ok(),
        Some(_) => None,
        None if checkout => Some(hir::WORKSPACE.to_string()),
        None => None,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PathError {
    Empty,
    Parent,
    NoBase,
}

impl PathError {
    fn label(self) -> &'static str {
        match self {
            PathError::Empty => "an empty path",
            PathError::Parent => "`..` leaves the directory it is relative to",
            PathError::NoBase => "relative, but the step's working directory is not known",
        }
    }

    fn help(self) -> &'static str {
        match self {
            PathError::Empty => "name the file or directory to hand on",
            PathError::Parent => "write the path without `..`, or as an absolute path",
            PathError::NoBase => {
                "give an absolute path, or set `checkout = true` (paths are then inside the checkout) or an absolute `workdir`"
            }
        }
    }
}

/// An output's absolute path: `raw` if absolute, else inside `base`.
fn output_path(raw: &str, base: Option<&str>) -> Result<String, PathError> {
    if raw.trim().is_empty() {
        return Err(PathError::Empty);
    }
    if raw.split('/').any(|part| part == "..") {
        return Err(PathError::Parent);
    }
    if raw.starts_with('/') {
        return normalize(raw);
    }
    let base = base.ok_or(PathError::NoBase)?;
    normalize(&format!("{base}/{raw}"))
}

/// `/a/./b//c/` → `/a/b/c`; `..` is refused rather than resolved.
fn normalize(path: &str) -> Result<String, PathError> {
    let mut out = String::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(PathError::Parent),
            p => {
                out.push('/');
                out.push_str(p);
            }
        }
    }
    if out.is_empty() {
        return Err(PathError::Empty);
    }
    Ok(out)
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

/// The longest text a run-time value can be, for those pipec or Kubernetes bound: a UID, a
/// Workflow name or namespace (63, Argo's `maxCharsInObjectName` and DNS-1123 labels), the
/// run's `YYYYMMDDHHMMSS`, a commit (SHA-1 or SHA-256: the push Sensor and the checkout accept
/// no other). Branches, tags, repositories and parameters have no bound.
fn bounded_len(var: &Var) -> Option<usize> {
    match var {
        Var::RunId => Some(36),
        Var::RunName | Var::RunNamespace => Some(k8s_rules::DNS1123_LABEL_MAX),
        Var::RunTimestamp => Some(14),
        Var::GitSha => Some(64),
        Var::GitShortSha => Some(7),
        Var::TagSafe { max, .. } => Some(*max),
        Var::GitBranch | Var::GitTag | Var::GitRepo | Var::Param(_) | Var::Arg(_) => None,
    }
}

/// An image tag whose unbounded run-time values (a branch, a git tag, a parameter) are made
/// valid tag text as Argo substitutes them (`pipec_argo_model::image_tag`), each cut to an
/// equal share of the room the rest of the tag leaves, so the tag always satisfies
/// distribution's `[\w][\w.-]{0,127}`. Bounded values are valid as they are: UIDs, names,
/// timestamps and commits are made of letters, digits, `.` and `-` and never start with `.`
/// or `-`. `Err(longest)` when the tag can exceed 128 characters whatever the values.
fn tag_safe(tag: Template) -> Result<Template, usize> {
    let max = pipec_argo_model::image_tag::TAG_MAX;
    let mut fixed = 0;
    let mut unbounded = 0;
    for piece in &tag.pieces {
        match piece {
            hir::Piece::Lit(t) => fixed += t.len(),
            hir::Piece::Var(v) => match bounded_len(v) {
                Some(n) => fixed += n,
                None => unbounded += 1,
            },
        }
    }
    if unbounded == 0 {
        return if fixed > max { Err(fixed) } else { Ok(tag) };
    }
    let share = max.saturating_sub(fixed) / unbounded;
    if share == 0 {
        return Err(fixed + unbounded);
    }
    let pieces = tag
        .pieces
        .into_iter()
        .enumerate()
        .map(|(i, piece)| match piece {
            hir::Piece::Var(v) if bounded_len(&v).is_none() => hir::Piece::Var(Var::TagSafe {
                value: Box::new(v),
                max: share,
                first: i == 0,
            }),
            other => other,
        })
        .collect();
    Ok(Template { pieces })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_paths() {
        assert_eq!(
            output_path("auth", Some("/workspace")),
            Ok("/workspace/auth".to_string())
        );
        assert_eq!(
            output_path("./bin/", Some("/workspace/cmd")),
            Ok("/workspace/cmd/bin".to_string())
        );
        assert_eq!(output_path("/out//x", None), Ok("/out/x".to_string()));
        assert_eq!(output_path("auth", None), Err(PathError::NoBase));
        assert_eq!(output_path("../x", Some("/w")), Err(PathError::Parent));
        assert_eq!(output_path("a/../x", None), Err(PathError::Parent));
        assert_eq!(output_path("/", None), Err(PathError::Empty));
        assert_eq!(
            working_dir(Some(Some("cmd")), true),
            Some("/workspace/cmd".to_string())
        );
        assert_eq!(working_dir(Some(Some("cmd")), false), None);
        assert_eq!(working_dir(Some(None), true), None);
        assert_eq!(working_dir(None, true), Some("/workspace".to_string()));
    }
}
