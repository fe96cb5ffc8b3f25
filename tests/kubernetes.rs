//! pipec's output against Kubernetes' own rules, with Kubernetes' algorithms as the oracle
//! ([`common::kube`]): what a container sees of the text pipec writes.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code may fail loudly

mod common;

use std::collections::BTreeMap;

use pipec_argo_model::k8s::expansion::escape;

#[test]
fn escaped_text_survives_kubernetes_expansion_unchanged() {
    // The pieces expansion reacts to, and names that are defined.
    let alphabet = [
        "$", "$", "(", ")", "A", "VAR", "ü", " ", "{", "}", "\\", "'", "\"",
    ];
    let env: BTreeMap<String, String> = [("A", "secret"), ("VAR", "other"), ("", "empty")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut rng = common::Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let len = (rng.next() % 12) as usize;
        let text: String = (0..len).map(|_| rng.pick(&alphabet)).collect();
        // `{{…}}` is Argo's; user text with it never reaches these fields.
        if text.contains("{{") {
            continue;
        }
        assert_eq!(
            common::kube::kubernetes_expand(&escape(&text), &env),
            text,
            "escaped as {:?}",
            escape(&text)
        );
    }
}

#[test]
fn run_time_values_survive_both_argo_and_kubernetes() {
    use common::kube::{argo_substitute, kubernetes_expand};
    let env: BTreeMap<String, String> = [("WEBHOOK".to_string(), "secret".to_string())].into();
    // A run-time value between literal `$`s, spelt as the lowering spells it.
    let spelt = format!(
        "${}$(",
        pipec_core::lower::text::expanded_tag(&pipec_core::hir::Var::GitBranch, 1)
    );
    for branch in ["$(WEBHOOK)", "$$", "a$", "$", "ü$ü", "plain"] {
        let argo = argo_substitute(&escape(&spelt), &[("git-branch", branch)]);
        assert_eq!(
            kubernetes_expand(&argo, &env),
            format!("${branch}$("),
            "{branch}"
        );
    }
}

/// The cases of issue 9: `echo $$`, an env value `pa$$word`, a branch named `$(WEBHOOK)`.
#[test]
fn what_the_pipe_says_is_what_the_container_gets() {
    let source = r#"
pipeline p {
  param note: string = "n"
  secret hook = "hook" { url }
  service api {
    image = "nginx:1.27"
    port  = 80
    env   = { PASSWORD = "pa$$word", WEBHOOK = hook.url, GREETING = "$(WEBHOOK) $$" }
    command = ["/srv/$(WEBHOOK)"]
    args  = ["--greeting=$(WEBHOOK) $$", "--password=pa$$word", "$(PASSWORD)", "ünï$çødé"]
  }
  step say = run "alpine:3.20" { command = "echo $$ $(date) ${git.branch} ${note}" }
}
"#;
    let docs = common::clean_documents("p.pipe", source);
    let params = [("git-branch", "$(WEBHOOK)"), ("note", "$$")];
    let rollout = docs.iter().find(|d| d["kind"] == "Rollout").unwrap();
    let container = &rollout["spec"]["template"]["spec"]["containers"][0];
    let env: BTreeMap<String, String> = common::kube::container_env(container, &params)
        .into_iter()
        .collect();
    assert_eq!(env["PASSWORD"], "pa$$word");
    assert_eq!(env["GREETING"], "$(WEBHOOK) $$");
    // `command` and `args` reach the process word for word: no `$(NAME)` reads a variable.
    assert_eq!(
        common::kube::container_args(container, &params),
        [
            "--greeting=$(WEBHOOK) $$",
            "--password=pa$$word",
            "$(PASSWORD)",
            "ünï$çødé"
        ]
    );
    let command = container["command"][0].as_str().unwrap();
    let all_env: BTreeMap<String, String> = common::kube::container_env(container, &params)
        .into_iter()
        .collect();
    assert_eq!(
        common::kube::kubernetes_expand(command, &all_env),
        "/srv/$(WEBHOOK)"
    );
    let workflow = docs.iter().find(|d| d["kind"] == "Workflow").unwrap();
    let say = common::template(workflow, "say");
    let args = common::kube::container_args(&say["container"], &params);
    let env = common::kube::container_env(&say["container"], &params);
    // The shell receives the script as written; the values arrive as written.
    assert!(args[0].starts_with("echo $$ $(date) "), "{args:?}");
    let values: Vec<&str> = env.iter().map(|(_, v)| v.as_str()).collect();
    assert!(values.contains(&"$(WEBHOOK)"), "{env:?}");
    assert!(values.contains(&"$$"), "{env:?}");
}

/// Argo Rollouts approximates a weight by pod counts only without a traffic router.
#[test]
fn weights_without_a_router_report_the_split_argo_runs() {
    let pipeline = |traffic: &str| {
        format!(
            "pipeline p {{\n  service api {{ image = \"nginx:1.27\", port = 80, replicas = 3 }}\n  release api canary {{\n    {traffic}\n    weight 10%\n    pause 5m\n  }}\n}}\n"
        )
    };
    let warnings = |source: &str| -> Vec<String> {
        let compilation = common::compile_source("p.pipe", source, &[]);
        assert!(
            !compilation.has_errors(),
            "{}",
            common::rendered(&compilation)
        );
        compilation
            .diagnostics
            .iter()
            .filter(|d| d.code == pipec_core::Code::W0003)
            .map(|d| d.message.clone())
            .collect()
    };
    assert_eq!(
        warnings(&pipeline("")),
        ["`weight 10%` runs 1 new pod beside 3 stable: 25% of the traffic"]
    );
    assert!(warnings(&pipeline("traffic = nginx(ingress = \"api-public\")")).is_empty());
    // An isolated canary takes no production traffic before `join`.
    assert!(warnings(&pipeline("isolated = true")).is_empty());
}

/// Linux's `execve` refuses an argument or environment entry of 128 KiB or more (E2BIG), so
/// the container would start and fail: the longest text that can run is accepted, one byte
/// more is refused at the string.
#[test]
fn text_longer_than_an_argument_can_be_is_refused() {
    let with_command = |bytes: usize| {
        let source = format!(
            "pipeline p {{\n  step say = run \"alpine:3.20\" {{ command = \"echo {}\" }}\n}}\n",
            "x".repeat(bytes - "echo ".len())
        );
        common::compile_source("p.pipe", &source, &[])
    };
    let longest = with_command(pipec_core::k8s_rules::MAX_TEXT_BYTES);
    assert!(!longest.has_errors(), "{}", common::rendered(&longest));
    let too_long = with_command(pipec_core::k8s_rules::MAX_TEXT_BYTES + 1);
    let codes: Vec<_> = too_long.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(
        codes,
        [pipec_core::Code::E0212],
        "{}",
        common::rendered(&too_long)
    );
    assert!(too_long.documents.is_empty());
}

/// Run-time values in an image tag: whatever branch or parameter a run gets, the reference
/// every container receives satisfies distribution's grammar (the oracle: `k8s_rules::image`,
/// with Argo's sprig functions evaluated by a Go-compatible regex engine in
/// `common::kube`), and the runtime's reading of a finished run
/// (`pipec_argo_model::image_tag::resolve`, for `pipec rollback --to RUN`) gives the same image.
#[test]
fn run_time_tags_are_valid_whatever_the_values() {
    use pipec_core::k8s_rules::{ImagePart, image};
    let source = r#"
pipeline p {
  repo = "https://example.com/app.git"
  param flavour: string = "dev"
  image app = build "." { repo = "registry.example.com/app", tag = "${git.branch}-${git.short_sha}" }
  image released = push app { to = "docker.io/acme/app", tag = "${flavour}.${git.tag}" }
  service api { image = app, port = 80 }
  release api canary { weight 50% }
}
"#;
    let docs = common::clean_documents("p.pipe", source);
    let workflow = docs.iter().find(|d| d["kind"] == "Workflow").unwrap();
    let build = &common::runs(workflow, "app");
    let push = &common::runs(workflow, "released");
    let alphabet = [
        "feature/",
        "x,name=evil.io/pwn",
        "$",
        "$(A)",
        ".",
        "-",
        "_",
        "ü",
        " ",
        "+",
        "a",
        "B",
        "9",
        ":",
        "@",
        "\"",
        "'",
        "\\",
    ];
    let mut rng = common::Rng(0x2545_f491_4f6c_dd1d);
    for _ in 0..2_000 {
        let mut value = |max: u64| -> String {
            let len = (rng.next() % max) as usize;
            (0..len).map(|_| rng.pick(&alphabet)).collect()
        };
        let (branch, tag, flavour) = (value(60), value(8), value(8));
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let params = [
            ("git-branch", branch.as_str()),
            ("git-tag", tag.as_str()),
            ("flavour", flavour.as_str()),
            ("git-sha", sha),
        ];
        let env: BTreeMap<String, String> = common::kube::container_env(&build["script"], &params)
            .into_iter()
            .collect();
        let built = &env["IMAGE"];
        let pushed = &common::kube::container_env(&push["script"], &params)
            .into_iter()
            .collect::<BTreeMap<_, _>>()["TARGET"];
        for reference in [built, pushed] {
            assert_eq!(
                image(reference, ImagePart::Reference),
                Ok(()),
                "{reference} from {params:?}"
            );
        }
        let run = pipec_argo_model::image_tag::RunValues {
            parameters: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        };
        let spelt = build["script"]["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "IMAGE")
            .unwrap()["value"]
            .as_str()
            .unwrap();
        assert_eq!(&pipec_argo_model::image_tag::resolve(spelt, &run), built);
    }
}
