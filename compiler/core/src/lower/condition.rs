//! Conditions → Argo `depends` and `when`.
//!
//! Step results become `depends` (`unit.Succeeded`), which Argo evaluates on task states. Data
//! tests become one expression tag in `when` (`{{=workflow.parameters['git-branch'] == 'main'}}`):
//! expr-lang sees the values as typed strings, so a branch name with spaces, quotes or a
//! leading digit cannot change how the condition parses, which it could with govaluate over
//! substituted text. The type checker guarantees the two parts are joined by `and` only.

use crate::hir::{Condition, NodeId, Operand};

use super::text::{expr_string, expr_text};

/// `depends` and `when` of a task.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskCondition {
    pub depends: Vec<String>,
    pub when: Option<String>,
}

/// Splits a condition into its step-result part and its data part.
pub fn split(condition: &Condition, task_name: &dyn Fn(NodeId) -> String) -> TaskCondition {
    let mut conjuncts = Vec::new();
    flatten_and(condition, &mut conjuncts);
    let mut out = TaskCondition::default();
    let mut data = Vec::new();
    for c in conjuncts {
        if matches!(c, Condition::Const(true)) {
            continue;
        }
        if c.has_step_results() {
            out.depends.push(depends_expr(c, task_name, true));
        } else {
            data.push(when_expr(c, true));
        }
    }
    if !data.is_empty() {
        out.when = Some(format!("{{{{={}}}}}", data.join(" && ")));
    }
    out
}

fn flatten_and<'c>(c: &'c Condition, out: &mut Vec<&'c Condition>) {
    match c {
        Condition::And(a, b) => {
            flatten_and(a, out);
            flatten_and(b, out);
        }
        other => out.push(other),
    }
}

fn depends_expr(c: &Condition, task_name: &dyn Fn(NodeId) -> String, top: bool) -> String {
    let wrap = |s: String| if top { s } else { format!("({s})") };
    match c {
        Condition::StepResult { node, passed: true } => format!("{}.Succeeded", task_name(*node)),
        Condition::StepResult {
            node,
            passed: false,
        } => {
            let name = task_name(*node);
            wrap(format!("{name}.Failed || {name}.Errored"))
        }
        Condition::And(a, b) => wrap(format!(
            "{} && {}",
            depends_expr(a, task_name, false),
            depends_expr(b, task_name, false)
        )),
        Condition::Or(a, b) => wrap(format!(
            "{} || {}",
            depends_expr(a, task_name, false),
            depends_expr(b, task_name, false)
        )),
        // Mixed and negated forms are rejected by the type checker (E0305).
        Condition::Not(_)
        | Condition::Compare { .. }
        | Condition::Matches { .. }
        | Condition::Const(_) => String::new(),
    }
}

fn when_expr(c: &Condition, top: bool) -> String {
    let wrap = |s: String| if top { s } else { format!("({s})") };
    match c {
        Condition::And(a, b) => wrap(format!(
            "{} && {}",
            when_expr(a, false),
            when_expr(b, false)
        )),
        Condition::Or(a, b) => wrap(format!(
            "{} || {}",
            when_expr(a, false),
            when_expr(b, false)
        )),
        Condition::Not(a) => format!("!({})", when_expr(a, true)),
        Condition::Compare { lhs, rhs, equal } => {
            let op = if *equal { "==" } else { "!=" };
            format!("{} {op} {}", operand(lhs), operand(rhs))
        }
        Condition::Matches {
            operand: o,
            regex,
            negated,
        } => {
            let test = format!("{} matches {}", operand(o), expr_string(regex));
            if *negated { format!("!({test})") } else { test }
        }
        Condition::Const(b) => b.to_string(),
        Condition::StepResult { .. } => String::new(),
    }
}

fn operand(o: &Operand) -> String {
    match o {
        Operand::Text(t) => expr_text(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hir::{Template, Var};

    fn name(id: NodeId) -> String {
        format!("t{}", id.0)
    }

    #[test]
    fn addressbook_promotion() {
        let branch = Condition::Compare {
            lhs: Operand::Text(Template::var(Var::GitBranch)),
            rhs: Operand::Text(Template::lit("master")),
            equal: true,
        };
        let tag = Condition::Matches {
            operand: Operand::Text(Template::var(Var::GitTag)),
            regex: "^hotfix".into(),
            negated: false,
        };
        let c = Condition::And(
            Box::new(Condition::StepResult {
                node: NodeId(1),
                passed: true,
            }),
            Box::new(Condition::Or(Box::new(branch), Box::new(tag))),
        );
        let split = split(&c, &name);
        assert_eq!(split.depends, vec!["t1.Succeeded"]);
        assert_eq!(
            split.when.as_deref(),
            Some(
                "{{=workflow.parameters['git-branch'] == 'master' || workflow.parameters['git-tag'] matches '^hotfix'}}"
            )
        );
    }

    #[test]
    fn failed_results() {
        let c = Condition::Or(
            Box::new(Condition::StepResult {
                node: NodeId(0),
                passed: false,
            }),
            Box::new(Condition::StepResult {
                node: NodeId(2),
                passed: true,
            }),
        );
        assert_eq!(
            split(&c, &name).depends,
            vec!["(t0.Failed || t0.Errored) || t2.Succeeded"]
        );
    }
}
