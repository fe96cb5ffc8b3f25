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

/// Any UTF-8 text: the lexer and parser end (libFuzzer's `-timeout` catches a hang); every
/// token, comment and error lies inside the text, on character boundaries, the tokens in
/// order; and no lexer error is lost: a text that lexes with errors does not parse cleanly.
pub fn parse(data: &[u8]) {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let file = pipec_syntax::FileId(0);
    let inside = |span: pipec_syntax::Span, what: &str| {
        let (start, end) = (span.start as usize, span.end as usize);
        assert!(
            start <= end && end <= source.len(),
            "{what} {start}..{end} outside 0..{}",
            source.len()
        );
        assert!(
            source.is_char_boundary(start) && source.is_char_boundary(end),
            "{what} {start}..{end} splits a character"
        );
    };
    let lexed = pipec_syntax::lexer::lex(source, file);
    let mut previous = 0;
    for (_, span) in &lexed.tokens {
        inside(*span, "token");
        assert!(
            span.start >= previous,
            "tokens out of order at {}",
            span.start
        );
        previous = span.end;
    }
    for comment in &lexed.comments {
        inside(comment.span, "comment");
    }
    let lex_errors = lexed.errors.len();
    let parsed = pipec_syntax::parse(source, file);
    for error in &parsed.errors {
        inside(error.span(), "error");
    }
    assert!(
        lex_errors == 0 || !parsed.errors.is_empty(),
        "the lexer found {lex_errors} errors the parse dropped"
    );
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

/// Any bytes, read as a document and a script of editor actions ([`lsp_session`]): the language
/// server answers every request exactly once, with a result or an error, and ends cleanly on
/// `shutdown` and `exit` — never a panic, a lost request or a hang.
pub fn lsp(data: &[u8]) {
    let (messages, requests) = lsp_session(data);
    let sent = pipec_lsp::serve_in_memory(messages).expect("the server ends cleanly");
    let mut answered: Vec<serde_json::Value> = sent
        .iter()
        .filter(|m| m.get("method").is_none())
        .map(|m| m["id"].clone())
        .collect();
    answered.sort_by_key(|id| id.to_string());
    // The server survives a panic in a feature by answering JSON-RPC's `InternalError`
    // (-32603): still a bug.
    let internal = -32603;
    assert!(
        !sent.iter().any(|m| m["error"]["code"] == internal),
        "a request failed inside the server"
    );
    let mut expected = requests;
    expected.push(serde_json::json!("pipec-shutdown"));
    expected.sort_by_key(|id| id.to_string());
    assert_eq!(answered, expected, "each request is answered exactly once");
}

/// The messages an editor could send for `data`: the bytes before the first NUL are a
/// document (opened as an unsaved buffer, so nothing is read from disk), each four bytes after
/// it one action — a request at a position (lines and columns may lie past the text), an edit
/// inserting a piece of the document, a whole-text change, a close and reopen, a cancellation,
/// an unknown method, parameters of the wrong shape. Returns the messages and the ids of the
/// requests among them.
pub fn lsp_session(data: &[u8]) -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
    use serde_json::json;
    let split = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    let text = String::from_utf8_lossy(&data[..split]).into_owned();
    let actions = data.get(split + 1..).unwrap_or_default();
    let uri = "untitled:fuzz.pipe";
    let doc = json!({ "uri": uri });
    let open = |version: i64, text: &str| {
        json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument":
            {"uri": uri, "languageId": "pipe", "version": version, "text": text}}})
    };
    // A piece of the document, so edits and new names are made of what the fuzzer writes.
    let piece = |from: u8, len: u8| -> String {
        text.chars()
            .skip(usize::from(from))
            .take(usize::from(len % 16))
            .collect()
    };
    let mut messages = vec![open(1, &text)];
    let mut requests = Vec::new();
    let mut version = 1;
    for (n, action) in actions.chunks_exact(4).take(64).enumerate() {
        let [kind, line, column, extra] = [action[0], action[1], action[2], action[3]];
        let position = json!({"line": line % 32, "character": column});
        let at = json!({"textDocument": doc, "position": position});
        let id = json!(n);
        let mut request = |method: &str, params: serde_json::Value| {
            requests.push(id.clone());
            json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
        };
        let message = match kind % 16 {
            0 => request("textDocument/hover", at),
            1 => request("textDocument/definition", at),
            2 => request(
                "textDocument/references",
                json!({"textDocument": doc, "position": position,
                       "context": {"includeDeclaration": extra % 2 == 0}}),
            ),
            3 => request("textDocument/documentSymbol", json!({"textDocument": doc})),
            4 => request(
                "textDocument/formatting",
                json!({"textDocument": doc, "options": {"tabSize": 2, "insertSpaces": true}}),
            ),
            5 => request(
                "textDocument/rename",
                json!({"textDocument": doc, "position": position,
                       "newName": piece(extra, column)}),
            ),
            6 => request(
                "textDocument/codeAction",
                json!({"textDocument": doc,
                       "range": {"start": position, "end": {"line": extra % 32, "character": 0}},
                       "context": {"diagnostics": []}}),
            ),
            7 => request(
                "textDocument/semanticTokens/full",
                json!({"textDocument": doc}),
            ),
            8 => request("textDocument/completion", at),
            9 | 10 => {
                version += 1;
                let end = json!({"line": extra % 32, "character": column / 2});
                json!({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
                    "textDocument": {"uri": uri, "version": version},
                    "contentChanges": [{"range": {"start": position, "end": end},
                                        "text": piece(extra, line)}]}})
            }
            11 => {
                version += 1;
                json!({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
                    "textDocument": {"uri": uri, "version": version},
                    "contentChanges": [{"text": piece(line, extra)}]}})
            }
            12 => {
                messages.push(json!({"jsonrpc": "2.0", "method": "textDocument/didClose",
                                     "params": {"textDocument": doc}}));
                version += 1;
                open(version, &piece(line, extra))
            }
            13 => json!({"jsonrpc": "2.0", "method": "$/cancelRequest",
                         "params": {"id": n + 1}}),
            14 => request("pipec/unknown", json!({"textDocument": doc})),
            _ => request(
                "textDocument/hover",
                json!({"textDocument": extra, "position": []}),
            ),
        };
        messages.push(message);
    }
    (messages, requests)
}
