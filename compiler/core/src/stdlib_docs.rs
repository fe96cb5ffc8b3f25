//! The reference of the standard library, made from its sources: each module's opening
//! comment, and each definition's head and `///` comment, with its parameters' own. It is what
//! `pipec explain std` (or `std.MODULE`, `std.MODULE.NAME`) prints and what `docs/stdlib.md`
//! holds, so the documentation users read is the one the editor's hover shows; `tests/stdlib.rs`
//! fails when `docs/stdlib.md` is out of date.

use crate::ide::Definition;
use crate::{Mode, NoImports, compile, stdlib};

/// The kinds of definition a module exports.
const EXPORTED: &[&str] = &["analysis", "service definition", "step definition"];

/// The reference for `selector`: `std` (everything), `std.MODULE` or `std.MODULE.NAME`, as
/// Markdown; `None` if it names no module or definition.
pub fn reference(selector: &str) -> Option<String> {
    let mut parts = selector.trim().split('.');
    if parts.next() != Some("std") {
        return None;
    }
    let module = parts.next();
    let name = parts.next();
    if parts.next().is_some() {
        return None;
    }
    let mut out = String::new();
    if module.is_none() {
        out.push_str(
            "# The standard library\n\nModules embedded in `pipec`, imported with `use std.MODULE.NAME` (or `use std.MODULE.{A, B}`).\nThis page is made from their sources in `stdlib/` (`pipec explain std` prints it), so it says what\nthe editor's hover says.\n",
        );
    }
    let mut found = false;
    for (module_name, text) in stdlib::MODULES {
        if module.is_some_and(|m| m != *module_name) {
            continue;
        }
        let compilation = compile(
            &format!("{module_name}.pipe"),
            text.as_bytes(),
            &NoImports,
            Mode::Check,
        );
        let definitions = &compilation.index.definitions;
        let exported: Vec<(usize, &Definition)> = definitions
            .iter()
            .enumerate()
            .filter(|(_, d)| EXPORTED.contains(&d.kind) && d.parent.is_none())
            .filter(|(_, d)| name.is_none_or(|n| d.name == n))
            .collect();
        if exported.is_empty() {
            continue;
        }
        found = true;
        if name.is_none() {
            out.push_str(&format!("\n## `std.{module_name}`\n\n"));
            let header = module_comment(text);
            if !header.is_empty() {
                out.push_str(&header);
                out.push('\n');
            }
        }
        for (index, definition) in exported {
            let params: Vec<&Definition> = definitions
                .iter()
                .filter(|p| p.kind == "parameter" && p.parent == Some(index))
                .collect();
            // The head in one line, whatever its layout in the source.
            let keyword = match definition.kind {
                "analysis" => "analysis",
                "service definition" => "service",
                _ => "step",
            };
            let head: Vec<&str> = params.iter().map(|p| p.signature.as_str()).collect();
            out.push_str(&format!(
                "\n### `std.{module_name}.{}` ({})\n\n```\n{keyword} {}({})\n```\n",
                definition.name,
                definition.kind,
                definition.name,
                head.join(", ")
            ));
            if let Some(doc) = &definition.doc {
                out.push_str(&format!("\n{doc}\n"));
            }
            // The head lists every parameter with its type and default; the table adds the
            // parameters' own `///` comments, where they have them.
            if params.iter().any(|p| p.doc.is_some()) {
                out.push_str("\n| parameter | meaning |\n|---|---|\n");
                for p in params {
                    let meaning = p
                        .doc
                        .as_deref()
                        .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "))
                        .unwrap_or_default();
                    out.push_str(&format!(
                        "| `{}` | {} |\n",
                        p.signature.replace('|', "\\|"),
                        meaning.replace('|', "\\|")
                    ));
                }
            }
        }
    }
    found.then_some(out)
}

/// The `//` comment a module opens with, as text (the marks and one space removed; a blank
/// comment line ends a paragraph, indented lines are an example).
fn module_comment(text: &str) -> String {
    let mut out = String::new();
    let mut in_example = false;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("//") else {
            break;
        };
        if rest.starts_with('/') {
            break;
        }
        let rest = rest.strip_prefix(' ').unwrap_or(rest);
        let example = rest.starts_with("    ");
        if example && !in_example {
            if !out.is_empty() && !out.ends_with("\n\n") {
                out.push('\n');
            }
            out.push_str("```\n");
        } else if !example && in_example {
            out.push_str("```\n");
        }
        in_example = example;
        if example {
            out.push_str(&rest[4..]);
        } else {
            out.push_str(rest);
        }
        out.push('\n');
    }
    if in_example {
        out.push_str("```\n");
    }
    out
}
