//! Shared parametrised templates: the Rollout scripts (deploy, wait, promote, …), the builds
//! and the copies are the same text for every service, so each kind is one template with
//! `inputs.parameters`, and each task passes what is its own (`ROLLOUT`, `IMAGE`, `STEP`, its
//! `.pipe` location) as `arguments` — what an Argo user writes by hand, and what keeps a
//! Workflow's size a few hundred bytes per task rather than the whole shell library per task.
//!
//! Argo substitutes `{{inputs.parameters.NAME}}` in every string of a template when it runs
//! a node (upstream `common.ProcessArgs` → `substituteParams`), including `env[].value`,
//! `metadata.annotations` and `timeout` (the conformance case `timeouts/template-timeout`
//! passes a template's `timeout` this way). A value only ever lands in an `env[].value`, never
//! in the script's `source`, so no value is parsed as shell code; and it is escaped for
//! Kubernetes' `$(VAR)` expansion as the env value itself was ([`Parameter::for_env`]).
//! `pipec_argo_semantics::workflow::instance` is the same substitution for every reader.

use std::collections::HashMap;

use pipec_argo_model::workflows::{Arguments, DagTask, Inputs, Parameter, Template};

use crate::names;
use pipec_argo_model::contract::{annotations, script_env};

/// Env variables of a shared template's script whose value is the same for every task
/// running it: they stay in the template.
const FIXED_ENV: [&str; 6] = [
    "RUN",
    "SERVING_LABEL",
    "EXTRA_PATCH",
    "MANUAL",
    script_env::TO_IMAGE,
    "BUILDKITD_FLAGS",
];

/// The input that carries a task's `.pipe` location into its template's
/// [`annotations::SOURCE`]. The inputs that carry env values are named as the variables
/// (`ROLLOUT`, `IMAGE`), upper case: no env variable is named as these two.
const SOURCE_INPUT: &str = "source";
/// The input that carries a task's `timeout` (the template's, Argo's backstop).
const DEADLINE_INPUT: &str = "deadline";

/// `{{inputs.parameters.NAME}}`.
fn input_tag(name: &str) -> String {
    format!("{{{{inputs.parameters.{name}}}}}")
}

/// The shared templates of one Workflow (or WorkflowTemplate), each stored once.
#[derive(Default)]
pub(super) struct Shared {
    /// A parametrised template (without its name) → its name. Keyed by the template itself:
    /// hashing its fields costs a fraction of serializing it to a JSON key, and equality is
    /// the model's own.
    by_shape: HashMap<Template, String>,
    /// How many variants of each kind there are so far.
    variants: HashMap<String, usize>,
}

impl Shared {
    /// [`Shared::share`] for each task in order: their DAG tasks, the templates they bring
    /// appended to `templates`.
    pub fn share_all(
        &mut self,
        tasks: Vec<super::release::Task>,
        templates: &mut Vec<Template>,
    ) -> Vec<DagTask> {
        tasks
            .into_iter()
            .map(|t| {
                let (task, template) = self.share(t.task, t.template, t.shared);
                templates.extend(template);
                task
            })
            .collect()
    }

    /// `task` and the template it runs, made to run the shared template of `kind` (by default
    /// the kind of the template's `pipec.dev/action`): the task passes its own values as
    /// arguments, and the shared template is returned the first time it is seen (`None` when
    /// an earlier task introduced it). A template of no kind is not shared and comes back as
    /// it is.
    pub fn share(
        &mut self,
        mut task: DagTask,
        template: Template,
        kind: Option<&str>,
    ) -> (DagTask, Option<Template>) {
        let action = template
            .metadata
            .as_ref()
            .and_then(|m| m.annotations.get(annotations::ACTION));
        let Some(kind) = kind
            .map(str::to_string)
            .or_else(|| action.map(|a| names::rollout_kind(a)))
        else {
            return (task, Some(template));
        };
        let (mut template, passed) = parametrise(template);
        if !passed.is_empty() {
            let arguments = task.arguments.get_or_insert_with(Arguments::default);
            arguments.parameters.extend(passed);
        }
        if let Some(name) = self.by_shape.get(&template) {
            task.template = name.clone();
            return (task, None);
        }
        let variant = self.variants.entry(kind.clone()).or_default();
        *variant += 1;
        let name = names::shared_template(&kind, *variant);
        self.by_shape.insert(template.clone(), name.clone());
        template.name = name.clone();
        task.template = name;
        (task, Some(template))
    }
}

/// A template with what is its own task's replaced by input tags, and the arguments that
/// give those values back; its name cleared, so two templates that differ only in those
/// values become equal.
fn parametrise(mut template: Template) -> (Template, Vec<Parameter>) {
    let mut passed = Vec::new();
    let mut declared = Vec::new();
    template.name = String::new();
    if let Some(script) = template.script.as_mut() {
        for env in &mut script.env {
            if FIXED_ENV.contains(&env.name.as_str()) {
                continue;
            }
            let Some(value) = env.value.as_mut() else {
                continue;
            };
            passed.push(Parameter::for_env(&env.name, value));
            *value = input_tag(&env.name);
            declared.push(Parameter::input(&env.name));
        }
    }
    if let Some(source) = template
        .metadata
        .as_mut()
        .and_then(|m| m.annotations.get_mut(annotations::SOURCE))
    {
        passed.push(Parameter::argument(SOURCE_INPUT, source.as_str()));
        *source = input_tag(SOURCE_INPUT);
        declared.push(Parameter::input(SOURCE_INPUT));
    }
    if let Some(timeout) = template.timeout.as_mut() {
        passed.push(Parameter::argument(DEADLINE_INPUT, timeout.as_str()));
        *timeout = input_tag(DEADLINE_INPUT);
        declared.push(Parameter::input(DEADLINE_INPUT));
    }
    let inputs = template.inputs.get_or_insert_with(Inputs::default);
    inputs.parameters.extend(declared);
    (template, passed)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use pipec_argo_model::contract::RolloutAction;
    use pipec_argo_model::k8s::EnvVar;
    use pipec_argo_model::workflows::{ScriptTemplate, TemplateMetadata};

    use super::*;

    fn deploy(rollout: &str, image: &str, location: &str) -> (DagTask, Template) {
        let task = DagTask {
            name: format!("{rollout}-deploy"),
            template: format!("{rollout}-deploy"),
            ..DagTask::default()
        };
        let template = Template {
            name: format!("{rollout}-deploy"),
            metadata: Some(TemplateMetadata {
                annotations: BTreeMap::from([
                    (
                        annotations::ACTION.to_string(),
                        RolloutAction::Deploy.as_str().to_string(),
                    ),
                    (annotations::SOURCE.to_string(), location.to_string()),
                ]),
            }),
            timeout: Some("31m".to_string()),
            script: Some(ScriptTemplate {
                image: "kubectl".to_string(),
                command: vec!["bash".to_string()],
                env: vec![
                    EnvVar::value("ROLLOUT", rollout),
                    EnvVar::value("RUN", "{{workflow.name}}"),
                    EnvVar::value("IMAGE", image),
                ],
                source: "kubectl patch rollout \"$ROLLOUT\" …".to_string(),
                ..ScriptTemplate::default()
            }),
            ..Template::default()
        };
        (task, template)
    }

    fn argument<'t>(task: &'t DagTask, name: &str) -> Option<&'t str> {
        task.arguments
            .as_ref()?
            .parameters
            .iter()
            .find(|p| p.name == name)?
            .value
            .as_deref()
    }

    #[test]
    fn tasks_of_one_action_run_one_template_and_pass_their_own_values() {
        let mut shared = Shared::default();
        let (api, api_template) = deploy("api", "registry/api:v1", "p.pipe:3:1");
        let (web, web_template) = deploy("web", "registry/web:$(v)", "p.pipe:9:1");
        let (api, first) = shared.share(api, api_template, None);
        let (web, second) = shared.share(web, web_template, None);
        let first = first.expect("the first task brings the template");
        assert!(second.is_none(), "the second task reuses it");
        assert_eq!(
            (api.template.as_str(), web.template.as_str()),
            ("rollout-deploy", "rollout-deploy")
        );
        assert_eq!(first.name, "rollout-deploy");
        let env = &first.script.as_ref().unwrap().env;
        assert_eq!(
            env[0].value.as_deref(),
            Some("{{inputs.parameters.ROLLOUT}}")
        );
        assert_eq!(
            env[1].value.as_deref(),
            Some("{{workflow.name}}"),
            "fixed values stay"
        );
        assert_eq!(
            first.timeout.as_deref(),
            Some("{{inputs.parameters.deadline}}")
        );
        assert_eq!(argument(&web, "ROLLOUT"), Some("web"));
        assert_eq!(argument(&web, "source"), Some("p.pipe:9:1"));
        assert_eq!(argument(&web, "deadline"), Some("31m"));
        // Kubernetes expands `$(v)` in the env value the argument becomes: escaped as the
        // env value was.
        assert_eq!(argument(&web, "IMAGE"), Some("registry/web:$$(v)"));
        let declared: Vec<&str> = first
            .inputs
            .as_ref()
            .unwrap()
            .parameters
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(declared, ["ROLLOUT", "IMAGE", "source", "deadline"]);
    }

    #[test]
    fn templates_that_differ_beyond_their_inputs_are_variants() {
        let mut shared = Shared::default();
        let (api, api_template) = deploy("api", "registry/api:v1", "p.pipe:3:1");
        let (web, mut web_template) = deploy("web", "registry/web:v1", "p.pipe:9:1");
        web_template
            .script
            .as_mut()
            .unwrap()
            .source
            .push_str("\nexit 0\n");
        let (_, first) = shared.share(api, api_template, None);
        let (web, second) = shared.share(web, web_template, None);
        assert_eq!(first.map(|t| t.name).as_deref(), Some("rollout-deploy"));
        assert_eq!(second.map(|t| t.name).as_deref(), Some("rollout-deploy-2"));
        assert_eq!(web.template, "rollout-deploy-2");
    }

    #[test]
    fn a_template_without_an_action_is_its_own() {
        let mut shared = Shared::default();
        let (task, mut template) = deploy("api", "registry/api:v1", "p.pipe:3:1");
        template.metadata = None;
        let (task, kept) = shared.share(task, template.clone(), None);
        assert_eq!(kept, Some(template));
        assert_eq!(task.template, "api-deploy");
        assert!(task.arguments.is_none());
    }
}
