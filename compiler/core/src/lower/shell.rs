//! Shell commands that cannot be injected into.
//!
//! A user's command is shell code they wrote; the values pipec inserts into it (`${version}`,
//! `${git.branch}`) are not. Those values are never pasted into the script text: each becomes
//! an environment variable, and the script refers to it with a quoted expansion chosen for the
//! quoting context at that point, so a branch named `x; rm -rf /` stays one harmless word.
//!
//! Argo Workflows rewrites `{{…}}` anywhere in a template and has no escape for it. A script
//! whose own text contains `{{` (a Go template, say) is therefore carried base64-encoded and
//! decoded when it runs.

use crate::hir::{Piece, Template, Var};

use super::text::expanded_tag;

/// A shell function, `check_image REF WHAT`, that stops a step before an image reference made
/// of run-time values reaches a tool: BuildKit reads `--output type=image,name=REF` as
/// comma-separated options (a repository parameter `x,name=evil.io/pwn` would add a name),
/// crane and kubectl read a leading `-` as a flag, and the kubelet refuses a malformed image
/// only once the pod is scheduled. A reference starts with a letter or digit, holds only the
/// characters of distribution's grammar (letters, digits, `.`, `_`, `-`, `/`, `:`, `@`) and
/// does not end in a separator (`repo:` has an empty tag). Tags are made valid before
/// (`pipec_argo_model::image_tag`); this catches repositories made of parameters.
pub const CHECK_IMAGE: &str = r#"check_image() {
  case "$1" in
    '' | [!A-Za-z0-9]* | *[!A-Za-z0-9._/:@-]* | *[:/@])
      printf '%s is not an image reference: %s\n' "$2" "$1" >&2
      exit 1
      ;;
  esac
}
"#;

/// A script and the environment it reads its inserted values from.
#[derive(Clone, Debug, PartialEq)]
pub struct ShellScript {
    /// The script text, referring to the values through `env`.
    pub script: String,
    /// `(variable, value as Argo text)`, spelt for an `env[].value` (which Kubernetes expands).
    pub env: Vec<(String, String)>,
}

/// The environment variable that carries a base64-encoded script.
pub const ENCODED_SCRIPT_VAR: &str = "PIPEC_SCRIPT_B64";

impl ShellScript {
    /// True if the text contains `{{` or `}}`, which Argo would rewrite: it must travel encoded.
    pub fn needs_encoding(&self) -> bool {
        self.script.contains("{{") || self.script.contains("}}")
    }

    /// The argument for `sh -c` and its environment; an encoded script is decoded by the shell.
    pub fn for_sh(mut self) -> (String, Vec<(String, String)>) {
        if self.needs_encoding() {
            self.env.push((
                ENCODED_SCRIPT_VAR.to_string(),
                base64(self.script.as_bytes()),
            ));
            let text = format!("eval \"$(printf '%s' \"${ENCODED_SCRIPT_VAR}\" | base64 -d)\"");
            return (text, self.env);
        }
        (self.script, self.env)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Quote {
    None,
    Single,
    Double,
}

/// Builds a shell script from a command template. `prefix` names the environment variables.
pub fn script(command: &Template, prefix: &str) -> ShellScript {
    let mut text = String::new();
    let mut env: Vec<(String, String)> = Vec::new();
    let mut vars: Vec<&Var> = Vec::new();
    let mut quote = Quote::None;
    let mut escaped = false;
    for piece in &command.pieces {
        match piece {
            Piece::Lit(lit) => {
                for c in lit.chars() {
                    text.push(c);
                    if escaped {
                        escaped = false;
                        continue;
                    }
                    quote = match (quote, c) {
                        (Quote::None, '\\') | (Quote::Double, '\\') => {
                            escaped = true;
                            quote
                        }
                        (Quote::None, '\'') => Quote::Single,
                        (Quote::None, '"') => Quote::Double,
                        (Quote::Single, '\'') => Quote::None,
                        (Quote::Double, '"') => Quote::None,
                        (q, _) => q,
                    };
                }
            }
            Piece::Var(var) => {
                let index = match vars.iter().position(|v| *v == var) {
                    Some(i) => i,
                    None => {
                        vars.push(var);
                        env.push((format!("{prefix}{}", vars.len() - 1), expanded_tag(var, 1)));
                        vars.len() - 1
                    }
                };
                let name = format!("{prefix}{index}");
                escaped = false;
                match quote {
                    Quote::None => text.push_str(&format!("\"${{{name}}}\"")),
                    Quote::Double => text.push_str(&format!("${{{name}}}")),
                    Quote::Single => text.push_str(&format!("'\"${{{name}}}\"'")),
                }
            }
        }
    }
    ShellScript { script: text, env }
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(TABLE[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(parts: &[Result<&str, Var>]) -> Template {
        let mut t = Template::default();
        for p in parts {
            match p {
                Ok(s) => t.push_lit(s),
                Err(v) => t.push_var(v.clone()),
            }
        }
        t
    }

    #[test]
    fn values_become_quoted_expansions() {
        let s = script(
            &template(&[Ok("echo "), Err(Var::GitBranch), Ok(" done")]),
            "V",
        );
        assert_eq!(s.script, "echo \"${V0}\" done");
        assert_eq!(
            s.env,
            vec![(
                "V0".to_string(),
                // Doubled `$`s: Kubernetes expands env values (`text::expanded_tag`).
                "{{=sprig.replace('$', '$$', workflow.parameters['git-branch'])}}".to_string()
            )]
        );
    }

    #[test]
    fn quoting_context_is_respected() {
        let s = script(
            &template(&[
                Ok("a \"x"),
                Err(Var::RunId),
                Ok("\" 'y"),
                Err(Var::RunId),
                Ok("' "),
                Err(Var::RunName),
            ]),
            "V",
        );
        assert_eq!(s.script, "a \"x${V0}\" 'y'\"${V0}\"'' \"${V1}\"");
        assert_eq!(s.env.len(), 2);
    }

    #[test]
    fn escaped_quotes_do_not_open_strings() {
        let s = script(&template(&[Ok("echo \\' "), Err(Var::RunId)]), "V");
        assert_eq!(s.script, "echo \\' \"${V0}\"");
    }

    #[test]
    fn template_tags_are_base64_encoded() {
        let s = script(
            &Template::lit("kubectl get pods -o go-template='{{.metadata.name}}'"),
            "V",
        );
        assert!(s.needs_encoding());
        let (text, env) = s.for_sh();
        assert!(!text.contains("{{"));
        assert_eq!(env[0].0, ENCODED_SCRIPT_VAR);
        assert!(!env[0].1.contains("{{"));
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
