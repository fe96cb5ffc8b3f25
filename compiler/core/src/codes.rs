//! The registry of diagnostic codes: one place for every code, its one-line title and the long
//! explanation `pipec explain CODE` prints. Codes are stable: never renumber one, retire it.
//!
//! Ranges: `E00xx` syntax, `E01xx` names and imports, `E02xx` types and values, `E03xx`
//! pipeline semantics, `E04xx` consistency of the generated resources (compiler bugs caught
//! before emission), `W0xxx` warnings.

macro_rules! codes {
    ($( $(#[$doc:meta])* $code:ident => $title:literal, $explanation:literal; )*) => {
        /// A stable diagnostic code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $( $(#[$doc])* $code, )*
        }

        impl Code {
            pub const ALL: &'static [Code] = &[ $( Code::$code, )* ];

            /// `E0101`.
            pub fn as_str(self) -> &'static str {
                match self { $( Code::$code => stringify!($code), )* }
            }

            /// The one-line summary.
            pub fn title(self) -> &'static str {
                match self { $( Code::$code => $title, )* }
            }

            /// The long explanation with an example, as `pipec explain` prints it.
            pub fn explanation(self) -> &'static str {
                match self { $( Code::$code => $explanation, )* }
            }
        }
    };
}

impl Code {
    pub fn is_warning(self) -> bool {
        self.as_str().starts_with('W')
    }

    /// Looks a code up by its text, case-insensitively (`e0101` works too).
    pub fn parse(text: &str) -> Option<Code> {
        Code::ALL
            .iter()
            .copied()
            .find(|c| c.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

codes! {
    E0001 => "syntax error",
"The parser met a token it did not expect. The message names what it found and what would
have been accepted at that point.

Example:

    service api {
      replicas = = 3      // a second `=`
    }

Fix the line the error points at. The parser skips the broken entry and keeps going, so
every other error in the file is reported in the same run.";

    E0002 => "unterminated string",
"A string literal has no closing quote. `\"…\"` strings end at the end of their line;
use a triple-quoted string for text over several lines.

Example:

    command = \"npm test

Fix:

    command = \"npm test\"
    script  = \"\"\"
      npm ci
      npm test
      \"\"\"";

    E0003 => "unterminated interpolation",
"A `${` inside a string has no closing `}`.

Example:

    tag = \"v${version\"

Fix:

    tag = \"v${version}\"

To write a literal `${` in a string, escape it: `\\${`.";

    E0004 => "unterminated regular expression",
"A regular expression literal `/…/` has no closing slash on its line. Escape slashes that
belong to the pattern as `\\/`.

Example:

    when = git.tag ~ /^release\\/v

Fix:

    when = git.tag ~ /^release\\/v/";

    E0005 => "invalid escape sequence",
"A `\"…\"` string holds a backslash escape pipec does not know. Known escapes: `\\\"`,
`\\\\`, `\\n`, `\\t`, `\\r`, `\\0`, `\\$` and `\\u{1F600}`. Triple-quoted strings keep
backslashes as written (only `\\${` is an escape there), which suits shell scripts.

Example:

    command = \"grep \\d+ log\"

Fix:

    command = \"grep \\\\d+ log\"";

    E0006 => "invalid number literal",
"A word starts with a digit but is not an integer (`3`), a decimal (`0.95`), a percentage
(`10%`) or a duration (`30s`, `10m`, `1h30m`, `2d`). Duration units go from largest to
smallest and each needs a number before it.

Example:

    pause 1h30

Fix:

    pause 1h30m";

    E0007 => "unexpected character",
"The file contains characters that start no token. Names are ASCII letters, digits and
underscores; strings go in double quotes; comments start with `//`.

Example:

    replicas = 3 # three pods

Fix:

    replicas = 3 // three pods";

    E0008 => "file is not UTF-8 text",
"The file is not valid UTF-8, so it is not a `.pipe` source file (perhaps a binary was
passed by mistake). The diagnostic points at the first byte that is not UTF-8.";

    E0009 => "empty file",
"The file declares nothing: no `pipeline`, no `analysis`, no `use`. `pipec check` and
`pipec compile` need at least one declaration.

Example of the smallest useful file:

    pipeline hello {
      step greet = run \"alpine:3.20\" { command = \"echo hello\" }
    }";

    E0010 => "empty interpolation",
"A string holds `${}` with nothing inside. Put an expression between the braces, or
escape the dollar sign (`\\${`) to write the characters literally.

Example:

    tag = \"v${}\"

Fix:

    tag = \"v${version}\"";

    E0011 => "file too large",
"A source file is larger than 16 MiB. pipec reads no more than that of any file, so that a huge
or endless input (a device, a runaway generator) costs bounded memory and time; no real pipeline
comes near it. Split a pipeline this large into several files, one per group of services.";

    E0012 => "nested too deeply",
"Brackets, strings and interpolations nest more than 64 levels deep, or one expression is more
than 128 levels deep (a run of `and`, `or` or `not` counts one level per operator). No real
pipeline comes near either limit; they exist so that any input, however it was generated, is
checked with bounded memory and stack. The part beyond the limit is not read, so nothing else is
reported about it.

Example:

    when = git.branch == \"a\" or git.branch == \"b\" or … // 200 branches

Fix: one regular expression instead of 200 comparisons:

    when = git.branch ~ /^(a|b|c)$/";

    E0013 => "bidirectional control character in the text",
"A string or comment holds an invisible character that changes the direction text is shown in
(U+202E RIGHT-TO-LEFT OVERRIDE, U+2066 LEFT-TO-RIGHT ISOLATE and the others of Unicode's
bidirectional algorithm). An editor or a code review then shows the line in another order than
pipec reads it: a comment can seem to end before code that is really inside it, or a branch
name in a condition can read differently from the one compared (\"Trojan Source\",
CVE-2021-42574). rustc refuses them the same way. pipec reports the first such character of
each line.

Fix: delete the character. If a string really needs it (right-to-left text in a message), write
it as an escape in a `\"…\"` string, where it is visible: `\\u{202E}`.";

    E0101 => "unknown name",
"A name is used that no declaration in scope defines. Names in scope are the pipeline's own
declarations (`param`, `secret`, `image`, `step`, `service`), imported definitions, and
the built-in namespaces `run` and `git`.

Example:

    service api { image = ap }   // the image is called `app`

The diagnostic suggests the closest name in scope when there is one.";

    E0102 => "duplicate declaration",
"Two declarations in the same scope have the same name. Every image, step, secret, param,
service and analysis name must be unique in its pipeline, including names brought in by
`use`.

Example:

    step test = run app { command = \"npm test\" }
    step test = run app { command = \"npm run lint\" }

Fix: rename one of them.";

    E0103 => "unknown field",
"A value is accessed with `.field` but has no such field. For example `run` has `id`,
`name`, `namespace` and `timestamp`; `git` has `sha`, `short_sha`, `branch`, `tag` and
`repo`; a step has `passed` and `failed`; an image built or pushed by a step has `image`.

Example:

    tag = run.idd

Fix:

    tag = run.id";

    E0104 => "unknown secret key",
"A secret declared with its list of keys is read with a key that is not in the list. The
key list is how pipec checks secret references without ever reading the Secret itself.

Example:

    secret db = \"db-params\" { DB_USER, DB_PASSWORD }
    env = { DB_HOST = db.DB_HOST }

Fix: add the key to the declaration (if the Secret holds it) or correct the name.";

    E0105 => "unknown standard library module",
"`use std.X` names a module the standard library does not have. Run `pipec explain E0105`
to see this text; the diagnostic lists the modules that exist.

Example:

    use std.analyses.success_rate

Fix:

    use std.analysis.success_rate";

    E0106 => "unknown import",
"A `use` names a definition the module does not export.

Example:

    use std.analysis.sucess_rate

Fix:

    use std.analysis.success_rate";

    E0107 => "imported file cannot be read",
"`use \"./file.pipe\"` names a file that does not exist or cannot be read. Paths are relative
to the importing file.";

    E0108 => "import cycle",
"Files import each other in a cycle. Imports must form a tree: move the shared definitions
into a file that both import.

Example:

    // a.pipe
    use \"./b.pipe\"
    // b.pipe
    use \"./a.pipe\"";

    E0109 => "invalid resource name",
"A name becomes the name of a Kubernetes object or of an Argo template, and it would not be
valid there. pipec writes names in kebab case (`release_image` → `release-image`); the
result must be at most 63 characters, start with a letter, and hold only lowercase letters,
digits and hyphens.

Example:

    service Address_Book { … }

Fix:

    service address_book { … }   // becomes `address-book`";

    E0110 => "no pipeline to compile",
"`pipec compile` and `pipec check` need the file to declare exactly one `pipeline`. A file
of shared definitions (analyses) is imported with `use`, not compiled on its own.";

    E0111 => "import outside the project",
"`use \"…\"` names a file outside the project, after symlinks are resolved. Imports may only
name regular `.pipe` files inside the project root: the nearest directory, from the entry file's
upwards, that holds a `pipec.toml` (it may be empty) or `.git`; without either, the entry file's
own directory. pipec runs on untrusted pull requests in CI, so an import must never read, and a
diagnostic never show, a file such as `/etc/passwd` or `/proc/self/environ`. The file is not
opened.

Example:

    use \"../../../etc/passwd\"   // refused: outside the project

Move shared definitions into the project (`use \"./lib/common.pipe\"`), or put an empty
`pipec.toml` in a directory above both files.";

    E0201 => "type mismatch",
"A value has a different type from the one its place requires. The diagnostic shows where
the value comes from and where it is used.

Example:

    param replicas_wanted: string = \"3\"
    service api { replicas = replicas_wanted }   // replicas needs an int

Fix: declare the param as `int`, or write the value where it is used.";

    E0202 => "percentage out of range",
"A percentage must lie between 0% and 100%, and a traffic weight must be a whole number.

Example:

    weight 150%

Fix:

    weight 100%";

    E0203 => "invalid regular expression",
"A `/…/` literal is not a valid regular expression. pipec checks patterns with RE2 syntax,
the syntax Argo uses when it evaluates the condition (Go's `regexp`). Patterns that other
engines accept but Go refuses or reads differently are errors too:

- flags other than `i`, `m`, `s`, `U` (`(?x)`, `(?u)`, `(?R)`);
- `\\u0041` and `\\U…` escapes (Go writes `\\x{41}`), `\\<`, `\\>`, `\\b{start}`, an escaped space;
- repeat counts over 1000, and `{,n}` (literal text in Go: write `{0,n}`);
- inside `[…]`: `&&`, `--`, `~~` (set operations elsewhere, literal characters in Go) and a
  nested `[` (a nested class elsewhere, a literal in Go: write `\\[`).

Example:

    when = git.tag ~ /^(hotfix/

Fix:

    when = git.tag ~ /^(hotfix)/";

    E0204 => "value out of range",
"A number lies outside the range its field allows, for example a port above 65535, zero
replicas, or a duration of zero where a positive one is needed. The diagnostic names the
allowed range.";

    E0205 => "unknown property",
"A block sets a property its kind does not have. The diagnostic suggests the closest
property name and lists the valid ones.

Example:

    service api { replica = 3 }

Fix:

    service api { replicas = 3 }";

    E0206 => "missing required property",
"A block lacks a property its kind requires, for example a `service` without `image` or a
`push` without `to`.

Example:

    service api { port = 8080 }

Fix:

    service api { image = app
                  port  = 8080 }";

    E0207 => "property set twice",
"The same property appears twice in one block (or one record). Only one value can win, so
pipec refuses to guess which one you meant.

Example:

    service api { port = 80, port = 8080 }

Fix: keep one of them.";

    E0208 => "wrong arguments",
"A call passes an argument the callee does not take, or more positional arguments than it
has parameters.

Example:

    ready = http_get(\"/ready\", 8080, 3)

Fix:

    ready = http_get(\"/ready\", port = 8080)";

    E0209 => "missing argument",
"A call omits an argument that has no default. Every parameter without a default must be
supplied, by position or by name. For analyses this is what keeps a Rollout from waiting
forever on an AnalysisTemplate arg nobody passed.

Example:

    analysis success_rate(service: string, min: percent = 95%) { … }
    analyze success_rate(min = 99%)

Fix:

    analyze success_rate(service = \"api\", min = 99%)";

    E0210 => "unknown action",
"A step or image declaration uses an action pipec does not know. Images are made with
`build` or `push`; steps run with `run`. Inside a release, `check` takes `exec`.

Example:

    step unit = execute app { command = \"npm test\" }

Fix:

    step unit = run app { command = \"npm test\" }";

    E0211 => "unknown type",
"A parameter declares a type that does not exist. Types: `string`, `int`, `float`, `bool`,
`duration`, `percent`, `regex`.

Example:

    param version: str = \"develop\"

Fix:

    param version: string = \"develop\"";

    E0212 => "value not allowed here",
"A value is of the right type but not one of the values this place accepts, for example a
release strategy other than `canary`, or an event other than `failure` in `on …`. The
diagnostic lists the accepted values.";

    E0213 => "text would be read as an Argo template tag",
"A string contains `{{`. Argo Workflows replaces `{{…}}` in every field it runs, and has no
escape for it, so the text would be changed or rejected at run time. Inside commands pipec
protects such text itself; in other places (image names, registry paths, analysis queries)
the text is not allowed. Use `${…}` to insert pipec values.

Example:

    repo = \"registry.example.com/{{team}}/api\"

Fix:

    repo = \"registry.example.com/${team}/api\"";

    E0214 => "value must be known at compile time",
"A place that ends up in a Rollout, a Service or an AnalysisTemplate is given a value that is
only known when the pipeline runs (a `param`, `run.*` or `git.*`). Those resources are plain
YAML that Argo does not template, so the value must be written out.

Example:

    param size: int = 3
    service api { replicas = size }

Fix:

    service api { replicas = 3 }

The Workflow, unlike those resources, is templated: steps can use params and `run.*`.";

    E0301 => "service released twice",
"A service has more than one `release` declaration. A service has one release strategy;
put all stages in one `release` block.";

    E0302 => "canary size is impossible",
"A `replicas N` canary stage must ask for at least one pod and fewer pods than the service
has, and `of M`, when given, must repeat the service's replica count.

Example:

    service api { replicas = 3 … }
    release api canary { replicas 3 of 3 }

Fix:

    release api canary { replicas 1 of 3 }";

    E0303 => "replica split cannot be reached without a traffic router",
"Without a traffic router, Argo Rollouts approximates a canary weight by the number of
pods, and rounds in its own way. pipec computes the weight that gives exactly the split you
asked for; this error means no weight does, with the release's `max_surge`.

Fix: change the split, allow a surge of at least one pod, or route traffic with a router.";

    E0304 => "steps depend on each other in a cycle",
"Steps form a cycle through what they reference or their `after` lists, so none of them
could start.

Example:

    step a = run img { command = \"a\", after = [b] }
    step b = run img { command = \"b\", after = [a] }";

    E0305 => "condition mixes step results in a way Argo cannot express",
"A `when` condition combines a step result (`unit.passed`) with other tests under `or` or
`not`. Step results become the task's `depends` and data tests become its `when`; the two
are joined by `and`, so a step result may appear only in the top-level `and` chain, or in
`and`/`or` combinations of step results alone.

Example:

    when = unit.passed or git.branch == \"main\"

Fix: split the step in two, or test the step result alone.";

    E0306 => "stage not allowed in this release",
"A release stage is used where it has no meaning: a stage the strategy does not have
(`weight` in a blue-green release), a check before any pod of the new version runs, `join`
without `isolated = true`, or a second `switch`. The diagnostic says which stages the
strategy accepts.

Stages by strategy:

    canary     weight, replicas, pause, check, analyze, approve, join
    rolling    check, approve            (batches come from `batch` and `batch_pause`)
    bluegreen  check, analyze, approve, switch";

    E0308 => "build without a repository",
"An image is built from source, but the pipeline does not say where the source is. Set the
pipeline's `repo` to the git URL the build checks out.

Example:

    pipeline api {
      repo = \"https://github.com/acme/api.git\"
      image app = build \".\" { repo = \"registry.example.com/api\" }
    }";

    E0309 => "registry credentials lack keys",
"Registry credentials (`auth = …`, `from_auth = …`) are a user name and a password. A secret
given as a whole must hold the keys `username` and `password`; a secret whose keys are named
otherwise (or two secrets) is given as a record of the two keys. The secret's declared key
list does not include both, or the record lacks one.

Example:

    secret dockerhub = \"dockerhub\" { user, token }
    image pushed = push app { to = \"docker.io/acme/app\", auth = dockerhub }

Fix: name the keys,

    auth = { username = dockerhub.user, password = dockerhub.token }

or declare the secret with `{ username, password }` if those are its keys.";

    E0310 => "rollout sizing allows no progress",
"`max_surge` and `max_unavailable` are both zero, so Argo Rollouts could neither add a pod
nor remove one and the update could never progress. Set at least one above zero.";

    E0311 => "name clash in the generated workflow",
"Two things would get the same template name in the generated Workflow, for example a step
called `api_deploy` and the deploy task pipec generates for service `api`, or a step called
`rollout_deploy` (`build_image`, `copy_image_2`) and the template every deploy (build, copy)
runs. Rename the step.";

    E0312 => "generated name breaks a Kubernetes or Argo naming rule",
"pipec makes names from yours: a service `api` gets a Service `api`, and for its release
`api-canary`, `api-stable` or `api-preview`, tasks `api-deploy`, `api-wait-1`, `api-check-2`;
a pipeline `shop` gets the WorkflowTemplate `shop-rollback`, the CronWorkflow `shop`, the
EventSource `shop-push` (whose Service is `shop-push-eventsource-svc`) and AnalysisTemplates
`shop-ANALYSIS`. Each must meet the rule of the field it lands in, or the API server (or Argo)
refuses the object, often only when a run reaches it:

- Service names are DNS-1035 labels: at most 63 lowercase letters, digits and `-`, starting
  with a letter.
- Workflow and WorkflowTemplate names at most 63 characters, CronWorkflow names at most 52
  (Argo's `maxCharsInObjectName`, `maxCharsInCronWorkflowName`).
- Label values (`app.kubernetes.io/name`, `app.kubernetes.io/part-of`) at most 63.
- Namespaces are DNS-1123 labels; other object names DNS-1123 subdomains (at most 253).
- Workflow template and task names at most 128 letters, digits and `-`.

pipec never shortens a name (a name you read in `kubectl get` must be one you wrote): it
refuses the file at the declaration the name is made from. Shorten that name.

Example:

    service payments_reconciliation_ledger_settlement_api_gateway { … }
    release payments_reconciliation_ledger_settlement_api_gateway canary { isolated = true … }

makes a Service `payments-reconciliation-ledger-settlement-api-gateway-canary` of 64
characters.";

    E0313 => "two generated objects share a name",
"Two declarations would make objects of the same kind with the same name in the same
namespace, so applying them would make one silently overwrite the other. This happens with a
service `api` whose canary gets the Service `api-canary` and a service `api_canary`; a
blue-green service `web` (Service `web-preview`) and a service `web_preview`; or two files
compiled together (`pipec check a.pipe b.pipe`) that both declare a pipeline `shop`. Rename
one of them.

Example:

    service api { … }
    release api canary { isolated = true … }
    service api_canary { … }    # Service `api-canary` again";

    E0314 => "pods must be ready for less than the release timeout",
"`min_ready` is as long as the release's `timeout` or longer. pipec sets the Rollout's
`progressDeadlineSeconds` (how long Argo Rollouts lets an update go without progress before it
marks the Rollout Degraded) to the release's timeout, and Argo Rollouts refuses a Rollout whose
progress deadline is not greater than its `minReadySeconds`: the Rollout would be InvalidSpec
and nothing would be rolled out. The release's waits could not see a pod count either.

Example:

    release api canary {
      min_ready = 45m
      weight 20%
    }

Fix:

    release api canary {
      min_ready = 45m
      timeout   = 1h
      weight 20%
    }";

    E0401 => "generated resource refers to one that is not generated",
"After lowering, pipec checks the resources against each other before writing any. A Rollout
names its Services and AnalysisTemplates, a Sensor or CronWorkflow the WorkflowTemplate it
starts, a Workflow step the Rollout it deploys; each of those names must be an object pipec
emits, or Argo would fail at run time (often after earlier steps already changed the cluster).

This error means pipec generated an inconsistent set of resources from a valid file: a bug in
pipec. Nothing is written. Please report it with the `.pipe` file.";

    E0402 => "AnalysisTemplate arguments do not match",
"An analysis run is started with arguments that do not match its AnalysisTemplate: an
argument without a default is not passed, or one is passed that the template does not
declare, or one is empty. Argo Rollouts would fail the AnalysisRun when the stage is reached.

Mismatched arguments in your file are reported earlier (E0208, E0209); this error means pipec
generated the mismatch itself: a bug in pipec. Nothing is written. Please report it.";

    E0403 => "selector does not select the pods",
"A Service or Rollout selects pods by labels that the pods it is meant for do not carry. The
Service would route no traffic, or the Rollout would be rejected by Argo Rollouts.

This is a bug in pipec: labels and selectors are generated together. Nothing is written.
Please report it with the `.pipe` file.";

    E0404 => "workflow reference does not resolve",
"A Workflow task names a template the Workflow does not define, `depends` on a task that does
not exist, or takes an artifact no task produces; or the entrypoint or exit handler is
missing. Argo would reject the Workflow on submission or fail the task when it is reached.

This is a bug in pipec. Nothing is written. Please report it with the `.pipe` file.";

    E0405 => "workflow expression Argo cannot parse",
"A generated `when` or `depends` is not well-formed as Argo reads it. Argo substitutes
`{{…}}` tags as raw text and then parses `when` with govaluate, so every tag must sit inside
single quotes and the whole must be a comparison of quoted values joined by `&&`, `||`, `!`.
`depends` joins task names (optionally `.Succeeded`, `.Failed`, …) the same way.

This is a bug in pipec: conditions in your file are checked when they are typed. Nothing is
written. Please report it with the `.pipe` file.";

    E0406 => "a step that must run would not run",
"pipec runs the compiled Workflow through a model of Argo's controller
(`compiler/argo-semantics`, checked against Argo's own test cases) for every way a run can end
(it succeeded, failed or erred: the exit handler sees only `workflow.status`, so these three
stand for every outcome of the steps). In each, the teardown of every ephemeral environment
must run, and after a failure every `on failure` action must run. Argo has results that are
easy to miss: a task whose `when` is false is Skipped, and a task whose `depends` is false is
Omitted, which `X.Skipped` does not match, so a chain of handlers can be silently Omitted.

This is a bug in pipec: the handler's tasks are generated together. Nothing is written. Please
report it with the `.pipe` file.";

    E0407 => "a step may run without the image it uses",
"A step runs in an image that another step of the same run builds or pushes, but Argo could
start it when that step did not succeed (it failed, or its `when` skipped it): the pod would
fail to pull the image, or run an older image of the same name. pipec runs the compiled
Workflow through its model of Argo's controller for every outcome to find such a step; each
consumer of an image must wait for its producer's success.

This is a bug in pipec: the waits are generated. Nothing is written. Please report it with the
`.pipe` file.";

    E0408 => "a wait would give up before Argo Rollouts gets there",
"The Workflow waits for a Rollout to reach a pause step, or to be healthy, for at most the
release's `timeout` beyond the pauses and analyses Argo Rollouts holds the update for on the
way. pipec runs each canary update through its model of Argo Rollouts (with every analysis
passing and every stage the Workflow holds passed at once) and found a wait shorter than that:
the Workflow would fail a healthy update and its exit handler would roll it back.

This is a bug in pipec: the waits' time limits are generated. Nothing is written. Please report
it with the `.pipe` file.";

    E0409 => "a generated object is larger than the cluster accepts",
"Kubernetes stores an object only if it fits in etcd's request limit (1.5 MiB by default), and
Argo runs a Workflow only if the whole of it, status included, stays below `MAX_WORKFLOW_SIZE`
(1 MiB by default); a run of a WorkflowTemplate carries a copy of the template. pipec measures
each object it would write and refuses one over the limit (for Workflows and WorkflowTemplates,
768 KiB, leaving a quarter for the run's status) rather than emit what the cluster rejects at
`kubectl apply` or Argo fails after it started.

Every task of one kind shares one template, so a Workflow grows by a few KiB per service: the
limit is reached at about 230 services of a canary with an analysis and an approval in one
pipeline. Split such a pipeline into several
(one `.pipe` file per team or group of services); pipec does not split one pipeline's objects
itself yet.";

    E0410 => "a generated Rollout breaks a rule of Argo Rollouts' validation",
"Argo Rollouts checks every Rollout before acting on it (`ValidateRolloutSpec`) and refuses
one that breaks its rules: the Rollout is marked InvalidSpec and Degraded, and nothing is
rolled out. One such rule is that `progressDeadlineSeconds` must be greater than
`minReadySeconds`. pipec checks the Rollouts it generates against these rules before writing
them; the `.pipe` errors before lowering (E0314, for example) should already have refused the
file.

This is a bug in pipec. Nothing is written. Please report it with the `.pipe` file.";

    W0001 => "irreversible step is not undone by rollback",
"A step is marked `irreversible` (a database migration, say). If the release fails after it
ran, rollback returns the pods to the previous version but cannot undo what the step did, so
the previous version must work with the changed state. The warning is stronger when the step
runs before the gates that would have caught a bad release.

Example:

    release api canary {
      check exec \"npm run migrate\" irreversible
      check exec \"npm run smoke\"
    }

Keep migrations backward compatible (expand, then contract in a later release), or run the
checks that guard the migration before it.";

    W0003 => "canary weight approximated by pod counts",
"Without a traffic router, Argo Rollouts cannot send an exact share of the traffic to the new
version: it runs canary and stable pods side by side and the Service spreads requests over all
of them. It picks the pod counts closest to the weight
(`approximateWeightedCanaryStableReplicaCounts` in argo-rollouts `utils/replicaset/canary.go`),
so `weight 10%` of 3 pods runs 1 new pod beside 3 stable ones, a quarter of the traffic.

Example:

    service api { replicas = 3 … }
    release api canary { weight 10% … }

Fix: say what happens with `replicas 1`, use more replicas, or route traffic with
`traffic = nginx(…)`, `istio(…)` or `smi()` for exact weights.";

    W0004 => "analysis gate that can never fail",
"An analysis in a release passes even when every measurement fails: its metric takes `times`
measurements and tolerates `failure_limit` failed ones, and Argo Rollouts fails a metric only
when the failures exceed that limit (`assessMetricStatus` in argo-rollouts
`analysis/analysis.go`). With `failure_limit` at or above `times` a broken version is promoted
as if it were healthy. pipec runs the AnalysisTemplate through its model of Argo Rollouts'
analysis controller with every measurement failed to find such a gate.

Example:

    analyze success_rate(service = \"api\", times = 3, failure_limit = 3)

Fix: tolerate fewer failures than measurements (`failure_limit = 1`), or take more
measurements.";

    W0005 => "secret written as a literal",
"A string holds what looks like a secret: a token with a known provider's prefix (AWS, GitHub,
GitLab, Stripe, Slack, Google, npm), a JSON Web Token, a private key, a password in a URL, or
any value of a key named like a credential (`DB_PASSWORD`, `api_token`). Written in the
`.pipe` file it is in the repository, every clone and CI log, and the YAML pipec emits; treat it
as leaked and revoke it.

Example:

    env = { DB_PASSWORD = \"hunter2\" }

Fix: keep it in a Kubernetes Secret and refer to it, so that only a `secretKeyRef` reaches the
YAML:

    secret db = \"db-credentials\" { password }
    env = { DB_PASSWORD = db.password }

A line that must keep its literal (a test fixture, a provider's documented example key) is
exempt with a comment `pipec:allow W0005` on it or on the line above.";

    W0002 => "unused declaration",
"A secret, param or image is declared but nothing in the pipeline uses it: probably a typo
elsewhere, or a leftover. Remove it, or use it. Names starting with `_` are exempt.

Example:

    secret db = \"db-params\"   // no `db.KEY` anywhere";
}
