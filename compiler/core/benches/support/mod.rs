//! The generated pipelines the benchmarks measure (`compile` here, `edit` in pipec-lsp) and
//! the whole-process timings run on (`compiler/core/examples/scaling_input.rs` prints them).

/// What differs between the two generated pipelines; the rest of a block is shared.
struct Shape {
    /// Lines before `pipeline`.
    preamble: &'static str,
    name: &'static str,
    test: fn(usize) -> String,
    replicas: u32,
    ready: &'static str,
    env: &'static str,
    release: fn(usize) -> String,
}

fn generate(shape: &Shape, services: usize) -> String {
    generate_part(shape, shape.name, 0..services)
}

/// The pipeline `name` of the services numbered `services` (their names and images unique
/// across the parts of one scenario).
fn generate_part(shape: &Shape, name: &str, services: std::ops::Range<usize>) -> String {
    let mut src = format!(
        "{}pipeline {name} {{\n  repo = \"https://git.example.com/{name}.git\"\n  secret hub = \"hub\" {{ username, password }}\n  secret db = \"db\" {{ USER, PASSWORD }}\n",
        shape.preamble
    );
    for i in services {
        src.push_str(&format!(
            r#"
  image app_{i} = build "services/s{i}" {{
    repo  = "registry.example.com/s{i}"
    tag   = git.short_sha
    cache = "registry.example.com/s{i}:latest"
  }}
  step test_{i} = run app_{i} {{
{test}  }}
  image ship_{i} = push app_{i} {{
    to   = "docker.io/acme/s{i}"
    auth = hub
    when = test_{i}.passed and (git.branch == "main" or git.tag ~ /^v[0-9]+/)
  }}
  service svc_{i} {{
    image    = ship_{i}
    replicas = {replicas}
    port     = 8080
    ready    = {ready}
    env      = {{ {env} }}
    expose   = load_balancer(80)
  }}
  release svc_{i} canary {{
{release}  }}
"#,
            test = (shape.test)(i),
            replicas = shape.replicas,
            ready = shape.ready,
            env = shape.env,
            release = (shape.release)(i),
        ));
    }
    src.push_str("\n  on failure { collect diagnostics }\n}\n");
    src
}

/// A pipeline of `blocks` services, 31 lines each plus 7 around them.
pub fn pipeline(blocks: usize) -> String {
    let shape = Shape {
        preamble: "",
        name: "bench",
        test: |i| format!("    command = \"npm test -- --shard {i}\"\n    retries = 2\n"),
        replicas: 4,
        ready: "http_get(\"/ready\", every = 5s)",
        env: "DB_USER = db.USER, DB_PASSWORD = db.PASSWORD, MODE = \"prod\"",
        release: |i| {
            format!(
                "    max_surge = 1\n    replicas 1 of 4\n    check exec \"./smoke {i}\"\n    pause 5m\n    weight 50%\n    approve\n"
            )
        },
    };
    generate(&shape, blocks)
}

/// The peer scenario of BENCHMARKS.md, `services` times: per service a build, a test, a push
/// to the production registry on `main` or a version tag, a service with a readiness probe
/// and secret environment on ten pods, and a canary: 10% (one pod) → a success-rate analysis →
/// 10 minutes → 50% → a person's approval. The same pipeline was written by hand in Hera,
/// Jsonnet, KCL and Pkl for the comparison the table quotes.
#[allow(dead_code)] // each benchmark uses one of the two generators
pub fn peer_pipeline(services: usize) -> String {
    generate(&PEER, services)
}

/// One of the pipelines a monorepo of the peer scenario is split into (E0409: one pipeline
/// holds about 230 of its services): pipeline `name`, the services numbered `services`.
#[allow(dead_code)] // used by the scaling_input example, not by the benchmarks
pub fn peer_pipeline_part(name: &str, services: std::ops::Range<usize>) -> String {
    generate_part(&PEER, name, services)
}

const PEER: Shape = Shape {
    preamble: "use std.analysis.success_rate\n\n",
    name: "peers",
    test: |_| "    command = \"npm test\"\n".to_string(),
    replicas: 10,
    ready: "http_get(\"/ready\")",
    env: "DB_USER = db.USER, DB_PASSWORD = db.PASSWORD",
    release: |i| {
        format!(
            "    weight 10%\n    analyze success_rate(service = \"svc-{i}\", min = 99%)\n    pause 10m\n    weight 50%\n    approve\n"
        )
    },
};
