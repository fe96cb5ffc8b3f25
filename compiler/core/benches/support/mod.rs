//! The generated pipelines the benchmarks measure (`compile` here, `edit` in pipec-lsp) and
//! the whole-process timings run on (`compiler/core/examples/scaling_input.rs` prints them).

/// A pipeline of `blocks` services, 31 lines each plus 7 around them.
pub fn pipeline(blocks: usize) -> String {
    let mut src = String::from(
        "pipeline bench {\n  repo = \"https://git.example.com/bench.git\"\n  secret hub = \"hub\" { username, password }\n  secret db = \"db\" { USER, PASSWORD }\n",
    );
    for i in 0..blocks {
        src.push_str(&format!(
            r#"
  image app_{i} = build "services/s{i}" {{
    repo  = "registry.example.com/s{i}"
    tag   = git.short_sha
    cache = "registry.example.com/s{i}:latest"
  }}
  step test_{i} = run app_{i} {{
    command = "npm test -- --shard {i}"
    retries = 2
  }}
  image ship_{i} = push app_{i} {{
    to   = "docker.io/acme/s{i}"
    auth = hub
    when = test_{i}.passed and (git.branch == "main" or git.tag ~ /^v[0-9]+/)
  }}
  service svc_{i} {{
    image    = ship_{i}
    replicas = 4
    port     = 8080
    ready    = http_get("/ready", every = 5s)
    env      = {{ DB_USER = db.USER, DB_PASSWORD = db.PASSWORD, MODE = "prod" }}
    expose   = load_balancer(80)
  }}
  release svc_{i} canary {{
    max_surge = 1
    replicas 1 of 4
    check exec "./smoke {i}"
    pause 5m
    weight 50%
    approve
  }}
"#
        ));
    }
    src.push_str("\n  on failure { collect diagnostics }\n}\n");
    src
}

/// The peer scenario of BENCHMARKS.md, `services` times: per service a build, a test, a push
/// to the production registry on `main` or a version tag, a service with a readiness probe
/// and secret environment on ten pods, and a canary: 10% (one pod) → a success-rate analysis →
/// 10 minutes → 50% → a person's approval. The same pipeline was written by hand in Hera, Jsonnet, KCL and Pkl
/// for the comparison the table quotes.
#[allow(dead_code)] // each benchmark uses one of the two generators
pub fn peer_pipeline(services: usize) -> String {
    let mut src = String::from(
        "use std.analysis.success_rate\n\npipeline peers {\n  repo = \"https://git.example.com/peers.git\"\n  secret hub = \"hub\" { username, password }\n  secret db = \"db\" { USER, PASSWORD }\n",
    );
    for i in 0..services {
        src.push_str(&format!(
            r#"
  image app_{i} = build "services/s{i}" {{
    repo  = "registry.example.com/s{i}"
    tag   = git.short_sha
    cache = "registry.example.com/s{i}:latest"
  }}
  step test_{i} = run app_{i} {{
    command = "npm test"
  }}
  image ship_{i} = push app_{i} {{
    to   = "docker.io/acme/s{i}"
    auth = hub
    when = test_{i}.passed and (git.branch == "main" or git.tag ~ /^v[0-9]+/)
  }}
  service svc_{i} {{
    image    = ship_{i}
    replicas = 10
    port     = 8080
    ready    = http_get("/ready")
    env      = {{ DB_USER = db.USER, DB_PASSWORD = db.PASSWORD }}
    expose   = load_balancer(80)
  }}
  release svc_{i} canary {{
    weight 10%
    analyze success_rate(service = "svc-{i}", min = 99%)
    pause 10m
    weight 50%
    approve
  }}
"#
        ));
    }
    src.push_str("\n  on failure { collect diagnostics }\n}\n");
    src
}
