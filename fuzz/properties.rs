#![allow(dead_code)] // each target uses one of these
//! What the fuzz targets hold pipec to, shared with the normal test suite
//! (`tests/fuzz_regressions.rs` runs every saved input through the same functions), so an input
//! the fuzzer once broke pipec with stays a test.

use pipec_core::{Mode, NoImports, compile};

/// Any bytes: `pipec check` ends with diagnostics, never a panic (libFuzzer's `-timeout` and
/// `-rss_limit_mb` catch hangs and blow-ups).
pub fn check(data: &[u8]) {
    let _ = compile("fuzz.pipe", data, &NoImports, Mode::Check);
}

/// Any bytes: when `pipec compile` succeeds, every document it emits is YAML that parses, and
/// parses back the same after a round trip.
pub fn compile_and_emit(data: &[u8]) {
    let compilation = compile("fuzz.pipe", data, &NoImports, Mode::Compile);
    if compilation.has_errors() {
        assert!(compilation.documents.is_empty(), "documents despite errors");
        return;
    }
    for document in &compilation.documents {
        let value: serde_json::Value = serde_saphyr::from_str(&document.yaml)
            .unwrap_or_else(|e| panic!("emitted YAML does not parse: {e}\n{}", document.yaml));
        let again = serde_saphyr::to_string(&value).expect("a parsed document serialises");
        let back: serde_json::Value = serde_saphyr::from_str(&again).expect("and parses again");
        assert_eq!(value, back, "the YAML does not round-trip");
    }
}

/// Any UTF-8 text `pipec fmt` accepts: formatting it again changes nothing, and it keeps every
/// token and comment (only whitespace is the formatter's to choose).
pub fn format(data: &[u8]) {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(formatted) = pipec_syntax::format::format(source) else {
        return;
    };
    let twice = pipec_syntax::format::format(&formatted).expect("formatted text formats");
    assert_eq!(twice, formatted, "formatting is not idempotent");
    let meaning = |text: &str| {
        let lexed = pipec_syntax::lexer::lex(text, pipec_syntax::FileId(0));
        let tokens: Vec<String> = lexed.tokens.iter().map(|(t, _)| format!("{t:?}")).collect();
        // A comment's trailing blanks are whitespace too: the formatter drops them.
        let comments: Vec<String> = lexed
            .comments
            .iter()
            .map(|c| c.text.trim_end().to_string())
            .collect();
        (tokens, comments, lexed.errors.len())
    };
    assert!(
        meaning(source) == meaning(&formatted),
        "formatting changed the tokens or comments"
    );
}
