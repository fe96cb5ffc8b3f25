//! The language server, tested as editors use it: the real `pipec lsp` binary, JSON-RPC over
//! its standard input and output. Positions are UTF-16, as the protocol requires, and the
//! documents have non-ASCII text before the interesting spots.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code may fail loudly

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Server {
    child: Child,
    stdin: ChildStdin,
    messages: Receiver<Value>,
    /// Notifications seen while waiting for something else.
    seen: Vec<Value>,
    next_id: i64,
}

fn frame(value: &Value) -> Vec<u8> {
    let body = value.to_string();
    format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pipec"))
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(n) = line.strip_prefix("Content-Length: ") {
                        length = n.parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let _ = tx.send(serde_json::from_slice::<Value>(&body).unwrap());
            }
        });
        let mut server = Server {
            child,
            stdin,
            messages: rx,
            seen: Vec::new(),
            next_id: 0,
        };
        let init = server.request(
            "initialize",
            json!({"processId": null, "rootUri": null, "capabilities": {}}),
        );
        assert_eq!(init["capabilities"]["hoverProvider"], true, "{init}");
        server.notify("initialized", json!({}));
        server
    }

    fn send(&mut self, value: &Value) {
        self.stdin.write_all(&frame(value)).unwrap();
        self.stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    fn send_request(&mut self, method: &str, params: Value) -> i64 {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        id
    }

    /// The whole response to request `id` (result or error).
    fn response(&mut self, id: i64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let message = self.next_message(deadline);
            if message["id"] == id && message.get("method").is_none() {
                return message;
            }
            self.seen.push(message);
        }
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params);
        let response = self.response(id);
        assert!(response.get("error").is_none(), "{method}: {response}");
        response["result"].clone()
    }

    fn next_message(&mut self, deadline: Instant) -> Value {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.messages.recv_timeout(left) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => panic!("no message in time; seen: {:#?}", self.seen),
            Err(RecvTimeoutError::Disconnected) => panic!("the server went away"),
        }
    }

    /// The next diagnostics published for `uri` that satisfy `test`.
    fn diagnostics(&mut self, uri: &str, test: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let matches = |m: &Value| {
            m["method"] == "textDocument/publishDiagnostics"
                && m["params"]["uri"] == uri
                && test(m["params"]["diagnostics"].as_array().unwrap())
        };
        if let Some(i) = self.seen.iter().position(matches) {
            let m = self.seen.remove(i);
            return m["params"]["diagnostics"].as_array().unwrap().clone();
        }
        loop {
            let message = self.next_message(deadline);
            if matches(&message) {
                return message["params"]["diagnostics"].as_array().unwrap().clone();
            }
            self.seen.push(message);
        }
    }

    fn open(&mut self, uri: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "pipe", "version": 1, "text": text}}),
        );
    }

    fn change(&mut self, uri: &str, version: i32, text: &str) {
        self.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]}),
        );
    }

    fn shutdown(mut self) {
        let _ = self.request("shutdown", Value::Null);
        self.notify("exit", Value::Null);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "exit status {status}");
                return;
            }
            assert!(Instant::now() < deadline, "the server did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("pipec-lsp-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn uri(path: &std::path::Path) -> String {
    format!("file://{}", path.display())
}

/// A pipeline with non-ASCII text (é is one UTF-16 unit, 𝄞 two) before the names.
const GOOD: &str = "// Café 𝄞 pipeline\npipeline shop {\n  repo = \"https://example.com/shop.git\"\n  secret hub = \"hub\" { username, password }\n  image app = build \".\" { repo = \"r/app\", tag = run.id }\n  step unit = run app { command = \"npm test\", env = { USER = hub.username } }\n  service api {\n    image = app\n    port  = 80\n  }\n  release api canary {\n    weight 50%\n  }\n}\n";

/// The line and UTF-16 column of the first `needle` (after `skip` bytes).
fn position(text: &str, needle: &str, skip: usize) -> Value {
    let offset = skip + text[skip..].find(needle).unwrap();
    let line = text[..offset].matches('\n').count();
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let character: usize = text[line_start..offset].chars().map(char::len_utf16).sum();
    json!({"line": line, "character": character})
}

#[test]
fn diagnostics_appear_with_utf16_ranges_and_clear_when_fixed() {
    let dir = temp_dir("diagnostics");
    let file = uri(&dir.join("shop.pipe"));
    // Non-ASCII on the error's own line: byte, char and UTF-16 columns all differ.
    let broken = GOOD.replace(
        "command = \"npm test\",",
        "command = \"é𝄞 test\", when = aqp.passed,",
    );
    let mut server = Server::start();
    server.open(&file, &broken);
    let diagnostics = server.diagnostics(&file, |d| !d.is_empty());
    let unknown = diagnostics
        .iter()
        .find(|d| d["message"].as_str().unwrap().contains("aqp"))
        .unwrap_or_else(|| panic!("{diagnostics:#?}"));
    assert_eq!(unknown["source"], "pipec");
    assert!(unknown["code"].as_str().unwrap().starts_with('E'));
    assert_eq!(unknown["range"]["start"], position(&broken, "aqp", 0));
    assert!(
        unknown["message"]
            .as_str()
            .unwrap()
            .contains("did you mean `app`"),
        "{unknown}"
    );
    // The quick fix takes the suggestion.
    let actions = server.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": file}, "range": unknown["range"],
               "context": {"diagnostics": [unknown]}}),
    );
    assert_eq!(actions[0]["title"], "Replace with `app`", "{actions}");
    let edit = &actions[0]["edit"]["changes"][&file][0];
    assert_eq!(edit["newText"], "app");
    // Fixed by an incremental edit of just the name: the diagnostics are cleared.
    server.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": file, "version": 2},
               "contentChanges": [{"range": unknown["range"], "text": "app"}]}),
    );
    server.diagnostics(&file, <[Value]>::is_empty);
    // A full replacement that breaks it again, then a full one that fixes it.
    server.change(&file, 3, &broken);
    server.diagnostics(&file, |d| !d.is_empty());
    server.change(&file, 4, GOOD);
    server.diagnostics(&file, <[Value]>::is_empty);
    server.shutdown();
}

#[test]
fn hover_definition_references_symbols_and_rename() {
    let dir = temp_dir("names");
    let file = uri(&dir.join("shop.pipe"));
    let mut server = Server::start();
    server.open(&file, GOOD);
    let doc = json!({"uri": file});
    // The use of `app` in `run app`.
    let use_site = position(GOOD, "app {", GOOD.find("run app").unwrap());
    let hover = server.request(
        "textDocument/hover",
        json!({"textDocument": doc, "position": use_site}),
    );
    let text = hover["contents"]["value"].as_str().unwrap();
    assert!(
        text.contains("image `app`") && text.contains("BuildKit"),
        "{text}"
    );
    let keyword = server.request(
        "textDocument/hover",
        json!({"textDocument": doc, "position": position(GOOD, "canary", 0)}),
    );
    assert!(
        keyword["contents"]["value"]
            .as_str()
            .unwrap()
            .contains("Argo Rollouts canary")
    );
    let field = server.request(
        "textDocument/hover",
        json!({"textDocument": doc, "position": position(GOOD, "port", 0)}),
    );
    assert!(
        field["contents"]["value"]
            .as_str()
            .unwrap()
            .contains("Port the container listens on")
    );

    let definition = server.request(
        "textDocument/definition",
        json!({"textDocument": doc, "position": use_site}),
    );
    assert_eq!(definition["uri"], file);
    assert_eq!(definition["range"]["start"], position(GOOD, "app =", 0));

    let references = server.request(
        "textDocument/references",
        json!({"textDocument": doc, "position": use_site, "context": {"includeDeclaration": true}}),
    );
    assert_eq!(references.as_array().unwrap().len(), 3, "{references}");

    // Semantic tokens: five numbers per token, the first one the comment on line 0, whose
    // length counts UTF-16 units (`𝄞` is two).
    let tokens = server.request(
        "textDocument/semanticTokens/full",
        json!({"textDocument": doc}),
    );
    let data = tokens["data"].as_array().unwrap();
    assert!(!data.is_empty() && data.len().is_multiple_of(5));
    let comment_units: usize = "// Café 𝄞 pipeline".chars().map(char::len_utf16).sum();
    assert_eq!(data[..3], [json!(0), json!(0), json!(comment_units)]);

    let symbols = server.request("textDocument/documentSymbol", json!({"textDocument": doc}));
    assert_eq!(symbols[0]["name"], "shop");
    let children: Vec<&str> = symbols[0]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(children, ["hub", "app", "unit", "api"]);

    let renamed = server.request(
        "textDocument/rename",
        json!({"textDocument": doc, "position": use_site, "newName": "web"}),
    );
    let edits = renamed["changes"][&file].as_array().unwrap();
    assert_eq!(edits.len(), 3);
    assert!(edits.iter().all(|e| e["newText"] == "web"));
    let id = server.send_request(
        "textDocument/rename",
        json!({"textDocument": doc, "position": use_site, "newName": "not"}),
    );
    assert!(
        server.response(id).get("error").is_some(),
        "a reserved word is refused"
    );
    server.shutdown();
}

#[test]
fn completion_knows_the_block_and_the_names() {
    let dir = temp_dir("completion");
    let file = uri(&dir.join("shop.pipe"));
    let mut server = Server::start();
    let typing = GOOD.replace("port  = 80\n", "port  = 80\n    rep\n");
    server.open(&file, &typing);
    let doc = json!({"uri": file});
    let labels = |result: &Value| -> Vec<String> {
        result
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["label"].as_str().unwrap().to_string())
            .collect()
    };
    let at = |server: &mut Server, needle: &str, skip: &str, delta: i64| {
        let mut p = position(&typing, needle, typing.find(skip).unwrap());
        p["character"] = json!(p["character"].as_i64().unwrap() + delta);
        server.request(
            "textDocument/completion",
            json!({"textDocument": doc, "position": p}),
        )
    };
    let in_service = labels(&at(&mut server, "rep\n", "service api", 3));
    assert!(
        in_service.contains(&"replicas".to_string()),
        "{in_service:?}"
    );
    assert!(in_service.contains(&"ready".to_string()));
    let value = labels(&at(&mut server, "app\n", "image = app", 0));
    assert!(
        value.contains(&"app".to_string()) && value.contains(&"http_get".to_string()),
        "{value:?}"
    );
    let keys = labels(&at(&mut server, "username", "hub.username", 0));
    assert_eq!(keys, ["username", "password"], "the secret's declared keys");
    let run_fields = labels(&at(&mut server, "id }", "run.id", 0));
    assert!(
        run_fields.contains(&"timestamp".to_string()),
        "{run_fields:?}"
    );
    let stages = labels(&at(&mut server, "weight", "release api", 0));
    assert!(
        stages.contains(&"approve".to_string()) && stages.contains(&"max_surge".to_string()),
        "{stages:?}"
    );
    server.shutdown();
}

#[test]
fn formatting_returns_the_canonical_layout() {
    let dir = temp_dir("formatting");
    let file = uri(&dir.join("shop.pipe"));
    let mut server = Server::start();
    server.open(&file, "pipeline p {\n repo=\"x\"\n}\n");
    let edits = server.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": file}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    assert_eq!(edits[0]["newText"], "pipeline p {\n  repo = \"x\"\n}\n");
    server.change(&file, 2, "pipeline p { repo = }");
    let edits = server.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": file}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    assert!(edits.is_null(), "a broken file is not formatted: {edits}");
    server.shutdown();
}

#[test]
fn imports_outside_the_project_are_refused_in_the_editor_too() {
    let dir = temp_dir("confined");
    let file = uri(&dir.join("main.pipe"));
    let mut server = Server::start();
    let main = "use \"../../../../../../etc/passwd\"\nuse \"/proc/self/environ\"\n\npipeline p {\n  service api { image = \"nginx:1\", port = 80 }\n}\n";
    server.open(&file, main);
    let diagnostics = server.diagnostics(&file, |d| !d.is_empty());
    let codes: Vec<&str> = diagnostics
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["E0111", "E0111"], "{diagnostics:#?}");
    let everything = serde_json::to_string(&diagnostics).unwrap();
    assert!(!everything.contains("root:"), "{everything}");
    server.shutdown();
}

#[test]
fn an_imported_files_errors_show_and_stdlib_definitions_open() {
    let dir = temp_dir("imports");
    std::fs::write(
        dir.join("gates.pipe"),
        "analysis ok_rate(min: percent = 95%) {\n  metric rate {\n    every = 1m\n    success = result >= min\n    prometheus = { address = \"http://p\", query = \"q\" }\n    bogus = 1\n  }\n}\n",
    )
    .unwrap();
    let main = "use ./gates.pipe\nuse std.analysis\n\npipeline p {\n  image app = \"nginx:1\"\n  service api {\n    image = app\n    port  = 80\n  }\n  release api canary {\n    weight 50%\n    analyze ok_rate()\n    analyze analysis.success_rate(service = \"api\")\n  }\n}\n";
    let file = uri(&dir.join("main.pipe"));
    let gates = uri(&dir.join("gates.pipe"));
    let mut server = Server::start();
    server.open(&file, main);
    let in_gates = server.diagnostics(&gates, |d| !d.is_empty());
    assert!(
        in_gates
            .iter()
            .any(|d| d["message"].as_str().unwrap().contains("bogus")),
        "{in_gates:#?}"
    );
    // …and in the importer, on the `use` line, pointing at it.
    let in_main = server.diagnostics(&file, |d| !d.is_empty());
    let pointer = &in_main[0];
    assert!(
        pointer["message"]
            .as_str()
            .unwrap()
            .starts_with("in gates.pipe: "),
        "{pointer}"
    );
    assert_eq!(
        pointer["range"]["start"],
        json!({"line": 0, "character": 0})
    );
    assert_eq!(pointer["relatedInformation"][0]["location"]["uri"], gates);
    // Opening the imported file and fixing it there re-checks the importer too.
    let gates_text = std::fs::read_to_string(dir.join("gates.pipe")).unwrap();
    server.open(&gates, &gates_text);
    server.change(&gates, 2, &gates_text.replace("    bogus = 1\n", ""));
    server.diagnostics(&gates, <[Value]>::is_empty);
    server.diagnostics(&file, <[Value]>::is_empty);
    let definition = server.request(
        "textDocument/definition",
        json!({"textDocument": {"uri": file}, "position": position(main, "success_rate", 0)}),
    );
    let target = definition["uri"].as_str().unwrap();
    assert!(target.ends_with("analysis.pipe"), "{definition}");
    let path = target.strip_prefix("file://").unwrap();
    assert!(
        std::fs::read_to_string(path)
            .unwrap()
            .contains("success_rate")
    );
    let local = server.request(
        "textDocument/definition",
        json!({"textDocument": {"uri": file}, "position": position(main, "ok_rate", 0)}),
    );
    assert_eq!(local["uri"], gates);
    // Inside a call: the definition's parameters.
    let mut inside = position(main, "service = \"api\")", 0);
    inside["character"] = json!(inside["character"].as_i64().unwrap());
    let params = server.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": file}, "position": inside}),
    );
    let labels: Vec<&str> = params
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    assert!(
        labels.contains(&"service") && labels.contains(&"min"),
        "{labels:?}"
    );

    // A standard library analysis used without its import: the quick fix adds the `use`.
    let other = uri(&dir.join("other.pipe"));
    let missing = "pipeline q {\n  image app = \"nginx:1\"\n  service api {\n    image = app\n    port  = 80\n  }\n  release api canary {\n    weight 50%\n    analyze success_rate(service = \"api\")\n  }\n}\n";
    server.open(&other, missing);
    let diagnostics = server.diagnostics(&other, |d| !d.is_empty());
    let unknown = diagnostics
        .iter()
        .find(|d| d["message"].as_str().unwrap().contains("success_rate"))
        .unwrap_or_else(|| panic!("{diagnostics:#?}"));
    let actions = server.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": other}, "range": unknown["range"],
               "context": {"diagnostics": [unknown]}}),
    );
    let import = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"] == "Import `success_rate` from std.analysis")
        .unwrap_or_else(|| panic!("{actions}"));
    assert_eq!(
        import["edit"]["changes"][&other][0]["newText"],
        "use std.analysis.success_rate\n"
    );
    server.shutdown();
}

#[test]
fn garbage_unknown_methods_and_cancellation_do_not_break_it() {
    let dir = temp_dir("robust");
    let file = uri(&dir.join("junk.pipe"));
    let mut server = Server::start();
    let garbage: String = (0u32..3000)
        .map(|i| char::from_u32((i * 7919) % 0x2FFF + 1).unwrap_or('?'))
        .collect();
    server.open(&file, &garbage);
    let diagnostics = server.diagnostics(&file, |d| !d.is_empty());
    assert!(!diagnostics.is_empty());
    for line in [0, 1, 5, 100] {
        let id = server.send_request(
            "textDocument/hover",
            json!({"textDocument": {"uri": file}, "position": {"line": line, "character": 3}}),
        );
        assert!(server.response(id).get("error").is_none());
    }
    let id = server.send_request("textDocument/nonsense", json!({}));
    assert_eq!(server.response(id)["error"]["code"], -32601);
    // A request whose cancellation the server has seen is answered RequestCanceled without
    // being computed. (The cancellation is written first so the test does not race the
    // server's reader thread; queued behind a busy request, the same path is taken.)
    let big_file = uri(&dir.join("big.pipe"));
    let mut big = String::from("pipeline big {\n");
    for i in 0..2000 {
        big.push_str(&format!(
            "  step s{i} = run \"alpine:3\" {{ command = \"echo {i}\" }}\n"
        ));
    }
    big.push_str("}\n");
    server.open(&big_file, &big);
    let busy = server.next_id + 1;
    let canceled = server.next_id + 2;
    server.next_id += 2;
    let hover = |id: i64| {
        json!({"jsonrpc": "2.0", "id": id, "method": "textDocument/documentSymbol",
        "params": {"textDocument": {"uri": big_file}}})
    };
    let mut batch = frame(&hover(busy));
    batch.extend(frame(
        &json!({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": canceled}}),
    ));
    batch.extend(frame(&hover(canceled)));
    server.stdin.write_all(&batch).unwrap();
    server.stdin.flush().unwrap();
    assert!(server.response(busy).get("result").is_some());
    assert_eq!(server.response(canceled)["error"]["code"], -32800);
    server.shutdown();
}

/// The editor gets the same bounds as the command line: a document as deep as the parser
/// allows answers every request, and one a million levels deep is one E0012, not a crash.
#[test]
fn deep_documents_are_answered_or_refused_never_a_crash() {
    let dir = temp_dir("deep");
    let file = uri(&dir.join("deep.pipe"));
    let mut server = Server::start();
    // An unused parameter named after the version, and the condition on line 5 + version:
    // each check publishes something new, recognisably.
    let document = |version: i32, condition: String| {
        let blank = "\n".repeat(usize::try_from(version).unwrap());
        format!(
            "pipeline p {{\n  param unused{version}: string = \"x\"\n{blank}  step unit = run \"node:20\" {{ command = \"npm test\" }}\n  step ship = run \"alpine:3.20\" {{\n    command = \"echo ship\"\n    when = {condition}\n  }}\n}}\n"
        )
    };
    let branch = "git.branch == \"main\"";
    let at_limits = [
        format!("unit.passed and {}{branch}", "not not ".repeat(60)),
        format!("unit.passed{}", format!(" and {branch}").repeat(120)),
        format!("{}unit.passed{}", "(".repeat(60), ")".repeat(60)),
    ];
    let too_deep = [
        format!("{}unit.passed", "not ".repeat(1_000_000)),
        format!("{}1", "[".repeat(1_000_000)),
    ];
    let mut version = 1;
    server.open(&file, &document(version, "unit.passed".to_string()));
    for condition in at_limits.into_iter().chain(too_deep) {
        let deep = condition.len() > 100_000;
        version += 1;
        server.change(&file, version, &document(version, condition));
        let name = format!("unused{version}");
        let when_line = 5 + version;
        let diagnostics = server.diagnostics(&file, |d| {
            d.iter().any(|x| {
                x["message"].as_str().unwrap_or("").contains(&name)
                    || (x["code"] == "E0012" && x["range"]["start"]["line"] == when_line)
            })
        });
        if deep {
            let codes: Vec<&str> = diagnostics
                .iter()
                .filter_map(|d| d["code"].as_str())
                .collect();
            assert_eq!(
                codes.iter().filter(|c| **c == "E0012").count(),
                1,
                "{codes:?}"
            );
        } else {
            assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
        }
        let text = json!({"uri": file});
        server.request(
            "textDocument/semanticTokens/full",
            json!({"textDocument": text}),
        );
        server.request("textDocument/documentSymbol", json!({"textDocument": text}));
        server.request(
            "textDocument/hover",
            json!({"textDocument": text, "position": {"line": when_line, "character": 14}}),
        );
        server.request(
            "textDocument/completion",
            json!({"textDocument": text, "position": {"line": when_line, "character": 12}}),
        );
        server.request(
            "textDocument/formatting",
            json!({"textDocument": text, "options": {"tabSize": 2, "insertSpaces": true}}),
        );
    }
    server.shutdown();
}
