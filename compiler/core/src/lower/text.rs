//! Spelling run-time values in the three languages the generated YAML speaks: Argo simple
//! tags (`{{workflow.uid}}`), expr-lang inside expression tags (`workflow.parameters['git-sha']`)
//! and, for AnalysisTemplates, Argo Rollouts args (`{{args.min}}`).

use crate::hir::{Piece, Template, Var};

/// Workflow parameter names pipec defines for the git context.
pub const GIT_REPO_PARAM: &str = "git-repo";
pub const GIT_SHA_PARAM: &str = "git-sha";
pub const GIT_BRANCH_PARAM: &str = "git-branch";
pub const GIT_TAG_PARAM: &str = "git-tag";

/// A variable as an Argo simple tag (or expression tag where no simple tag exists).
pub fn tag(var: &Var) -> String {
    match var {
        Var::RunId => "{{workflow.uid}}".to_string(),
        Var::RunName => "{{workflow.name}}".to_string(),
        Var::RunNamespace => "{{workflow.namespace}}".to_string(),
        Var::RunTimestamp => ["Y", "m", "d", "H", "M", "S"]
            .iter()
            .map(|f| format!("{{{{workflow.creationTimestamp.{f}}}}}"))
            .collect(),
        Var::GitSha => format!("{{{{workflow.parameters.{GIT_SHA_PARAM}}}}}"),
        Var::GitShortSha => {
            format!("{{{{=sprig.trunc(7, workflow.parameters['{GIT_SHA_PARAM}'])}}}}")
        }
        Var::GitBranch => format!("{{{{workflow.parameters.{GIT_BRANCH_PARAM}}}}}"),
        Var::GitTag => format!("{{{{workflow.parameters.{GIT_TAG_PARAM}}}}}"),
        Var::GitRepo => format!("{{{{workflow.parameters.{GIT_REPO_PARAM}}}}}"),
        Var::Param(name) => format!("{{{{workflow.parameters.{name}}}}}"),
        Var::Arg(name) => format!("{{{{args.{name}}}}}"),
        Var::TagSafe { .. } => format!("{{{{={}}}}}", expr_var(var)),
    }
}

/// A variable as Argo text for a field that Kubernetes then expands `levels` times (an env
/// value is expanded once; an env value of a manifest that a step applies, twice). Values a
/// person or a webhook chooses (branches, tags, parameters) may hold `$`: Argo doubles each
/// one per level (`sprig.replace`), so Kubernetes' `$$` → `$` gives the value back and a branch
/// named `$(WEBHOOK)` never reads another variable. Literal text is escaped by the model
/// (`pipec_argo_model::k8s::expansion`).
pub fn expanded_tag(var: &Var, levels: u32) -> String {
    let may_hold_dollar = matches!(
        var,
        Var::GitSha
            | Var::GitShortSha
            | Var::GitBranch
            | Var::GitTag
            | Var::GitRepo
            | Var::Param(_)
    );
    if !may_hold_dollar || levels == 0 {
        return tag(var);
    }
    let dollars = "$".repeat(1 << levels);
    format!(
        "{{{{=sprig.replace('$', '{dollars}', {})}}}}",
        expr_var(var)
    )
}

/// A template as Argo text for a field Kubernetes expands once (`env[].value`, `args`).
pub fn expanded_text(template: &Template) -> String {
    template
        .pieces
        .iter()
        .map(|p| match p {
            Piece::Lit(t) => t.clone(),
            Piece::Var(v) => expanded_tag(v, 1),
        })
        .collect()
}

/// A template as text for a field Argo substitutes.
pub fn argo_text(template: &Template) -> String {
    template
        .pieces
        .iter()
        .map(|p| match p {
            Piece::Lit(t) => t.clone(),
            Piece::Var(v) => tag(v),
        })
        .collect()
}

/// A variable as an expr-lang operand, for `{{= … }}` expressions.
pub fn expr_var(var: &Var) -> String {
    match var {
        Var::RunId => "workflow.uid".to_string(),
        Var::RunName => "workflow.name".to_string(),
        Var::RunNamespace => "workflow.namespace".to_string(),
        // Rejected in conditions by the type checker; kept total for safety.
        Var::RunTimestamp => "workflow.creationTimestamp".to_string(),
        Var::GitSha => format!("workflow.parameters['{GIT_SHA_PARAM}']"),
        Var::GitShortSha => format!("sprig.trunc(7, workflow.parameters['{GIT_SHA_PARAM}'])"),
        Var::GitBranch => format!("workflow.parameters['{GIT_BRANCH_PARAM}']"),
        Var::GitTag => format!("workflow.parameters['{GIT_TAG_PARAM}']"),
        Var::GitRepo => format!("workflow.parameters['{GIT_REPO_PARAM}']"),
        Var::Param(name) => format!("workflow.parameters['{name}']"),
        Var::Arg(name) => format!("args['{name}']"),
        Var::TagSafe { value, max, first } => {
            pipec_argo_model::image_tag::expression(&expr_var(value), *max, *first)
        }
    }
}

/// An expr-lang string literal in single quotes.
pub fn expr_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    let mut previous = None;
    for c in text.chars() {
        // Argo ends an expression tag at the first `}}` (and `{{` would open one), even
        // inside a string: split the literal there, `'a}' + '}b'`.
        if (c == '}' || c == '{') && previous == Some(c) {
            out.push_str("' + '");
        }
        previous = Some(c);
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A template as an expr-lang string expression: literals and variables joined with `+`.
pub fn expr_text(template: &Template) -> String {
    if template.pieces.is_empty() {
        return "''".to_string();
    }
    template
        .pieces
        .iter()
        .map(|p| match p {
            Piece::Lit(t) => expr_string(t),
            Piece::Var(v) => expr_var(v),
        })
        .collect::<Vec<_>>()
        .join(" + ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_never_close_or_open_a_tag() {
        assert_eq!(expr_string("a}}b"), "'a}' + '}b'");
        assert_eq!(expr_string("{{x}}"), "'{' + '{x}' + '}'");
        assert_eq!(expr_string("it's"), "'it\\'s'");
    }

    #[test]
    fn values_that_may_hold_a_dollar_are_doubled_per_expansion() {
        assert_eq!(
            expanded_tag(&Var::GitBranch, 1),
            "{{=sprig.replace('$', '$$', workflow.parameters['git-branch'])}}"
        );
        assert_eq!(
            expanded_tag(&Var::Param("v".into()), 2),
            "{{=sprig.replace('$', '$$$$', workflow.parameters['v'])}}"
        );
        assert_eq!(expanded_tag(&Var::RunName, 1), "{{workflow.name}}");
        assert_eq!(expanded_tag(&Var::GitBranch, 0), tag(&Var::GitBranch));
    }

    #[test]
    fn spelling() {
        let mut t = Template::lit("v");
        t.push_var(Var::GitShortSha);
        assert_eq!(
            argo_text(&t),
            "v{{=sprig.trunc(7, workflow.parameters['git-sha'])}}"
        );
        assert_eq!(
            expr_text(&t),
            "'v' + sprig.trunc(7, workflow.parameters['git-sha'])"
        );
        assert_eq!(expr_string("it's a\\b"), r"'it\'s a\\b'");
        assert_eq!(
            argo_text(&Template::var(Var::RunTimestamp))
                .matches("{{")
                .count(),
            6
        );
    }
}
