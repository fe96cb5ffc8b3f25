//! The editor files shipped in `editors/vscode`: they parse, the grammar's patterns compile,
//! and the grammar knows every keyword and built-in the parser and resolver know.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code may fail loudly

mod common;

use serde_json::Value;

fn read_json(path: &str) -> Value {
    let text = std::fs::read_to_string(common::root().join(path)).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every `match`, `begin` and `end` pattern in a grammar.
fn patterns(node: &Value, out: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            for (k, v) in map {
                if matches!(k.as_str(), "match" | "begin" | "end") {
                    out.push(v.as_str().unwrap().to_string());
                } else {
                    patterns(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| patterns(v, out)),
        _ => {}
    }
}

#[test]
fn the_vscode_extension_is_consistent() {
    let package = read_json("editors/vscode/package.json");
    let language = &package["contributes"]["languages"][0];
    assert_eq!(language["extensions"][0], ".pipe");
    let grammar_path = package["contributes"]["grammars"][0]["path"]
        .as_str()
        .unwrap();
    assert!(
        common::root()
            .join("editors/vscode")
            .join(grammar_path)
            .exists()
    );
    read_json("editors/vscode/language-configuration.json");
    let extension =
        std::fs::read_to_string(common::root().join("editors/vscode/extension.js")).unwrap();
    assert!(
        extension.contains("args: [\"lsp\"]"),
        "the client starts `pipec lsp`"
    );
}

#[test]
fn the_grammar_compiles_and_knows_every_keyword() {
    let grammar = read_json("editors/vscode/syntaxes/pipe.tmLanguage.json");
    let mut all = Vec::new();
    patterns(&grammar, &mut all);
    assert!(all.len() > 10);
    for pattern in &all {
        fancy_regex::Regex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
    }
    let joined = all.join("\n");
    // As an alternative in a group (`(a|w|b)`) or alone (`\bw\b`).
    let word = |w: &str| {
        regex::Regex::new(&format!(r"[(|]{w}[)|]"))
            .unwrap()
            .is_match(&joined)
            || joined.contains(&format!(r"\b{w}\b"))
    };
    for keyword in pipec_syntax::parser::KEYWORDS {
        assert!(word(keyword), "the grammar does not highlight `{keyword}`");
    }
    for builtin in pipec_core::resolve::BUILTIN_FUNCTIONS {
        assert!(word(builtin), "the grammar does not highlight `{builtin}`");
    }
    // On the examples: every rule finds something to colour.
    let example: String = common::pipe_files("examples")
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let repository = &grammar["repository"];
    let find = |rule: &Value| -> bool {
        let mut list = Vec::new();
        patterns(rule, &mut list);
        // TextMate matches line by line.
        list.iter().any(|p| {
            let re = fancy_regex::Regex::new(p).unwrap();
            example.lines().any(|l| re.is_match(l).unwrap_or(false))
        })
    };
    for rule in [
        "comment",
        "string",
        "keyword",
        "literal",
        "declaration",
        "builtin",
        "regex",
    ] {
        assert!(
            find(&repository[rule]),
            "rule {rule} matches nothing in the examples"
        );
    }
}

#[test]
fn editor_setup_is_documented() {
    let docs = std::fs::read_to_string(common::root().join("docs/editors.md")).unwrap();
    for editor in ["Visual Studio Code", "Neovim", "Helix", "pipec lsp"] {
        assert!(
            docs.contains(editor),
            "docs/editors.md does not mention {editor}"
        );
    }
}
