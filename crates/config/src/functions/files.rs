//! Encoding and file functions: `base64encode`, `base64decode`, `jsonencode`, `file`,
//! `templatefile`.

use std::io::Read;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hcl::Value;
use hcl::eval::{Context, Evaluate, FuncArgs};

use super::{map, string};

/// Files read by `file` and `templatefile` are user data and scripts, not disk images: anything
/// bigger is almost certainly a wrong path (`/dev/zero`, a binary).
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

pub(super) fn base64encode(args: FuncArgs) -> Result<Value, String> {
    Ok(STANDARD.encode(string(&args[0], "the argument")?).into())
}

pub(super) fn base64decode(args: FuncArgs) -> Result<Value, String> {
    let bytes = STANDARD
        .decode(string(&args[0], "the argument")?.trim())
        .map_err(|e| format!("the argument is not valid base64: {e}"))?;
    String::from_utf8(bytes)
        .map(Value::from)
        .map_err(|_| "the decoded bytes are not UTF-8 text".into())
}

/// Terraform's `jsonencode`: object keys sorted, no whitespace.
pub(super) fn jsonencode(args: FuncArgs) -> Result<Value, String> {
    serde_json::to_string(&to_json(&args[0]))
        .map(Value::from)
        .map_err(|e| e.to_string())
}

fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Number(n) => serde_json::to_value(n).unwrap_or(serde_json::Value::Null),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Array(a) => serde_json::Value::Array(a.iter().map(to_json).collect()),
        Value::Object(o) => {
            let mut entries: Vec<_> = o.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            serde_json::Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), to_json(v)))
                    .collect(),
            )
        }
    }
}

/// Reads a UTF-8 text file, relative to the process working directory (as Terraform does).
pub(crate) fn read_text(path: &str) -> Result<String, String> {
    let hint = "paths are relative to the directory updraft runs in; write \
                \"${path.module}/name\" for a file next to the configuration";
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read `{path}`: {e} ({hint})"))?;
    if !meta.is_file() {
        return Err(format!("`{path}` is not a regular file"));
    }
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read `{path}`: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read `{path}`: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("`{path}` is larger than {MAX_FILE_BYTES} bytes"));
    }
    String::from_utf8(bytes)
        .map_err(|_| format!("`{path}` is not UTF-8 text: user data and templates must be text"))
}

pub(super) fn file(args: FuncArgs) -> Result<Value, String> {
    read_text(&string(&args[0], "the path")?).map(Value::from)
}

/// `templatefile(path, vars)`: renders the file as a template in which only `vars` (and the
/// functions, except `templatefile` itself) are in scope, as in Terraform.
pub(super) fn templatefile(args: FuncArgs) -> Result<Value, String> {
    let path = string(&args[0], "the path")?;
    let vars = map(&args[1], "the variables")?;
    let text = read_text(&path)?;
    let template = hcl::Template::from_str(&text)
        .map_err(|e| format!("`{path}` is not a valid template: {e}"))?;
    let mut ctx = Context::new();
    super::declare(&mut ctx, &["templatefile"]);
    for (name, value) in vars {
        if hcl::Identifier::new(name.as_str()).is_err() {
            return Err(format!("template variable `{name}` is not a valid name"));
        }
        ctx.declare_var(name.clone(), value.clone());
    }
    template
        .evaluate(&ctx)
        .map(Value::from)
        .map_err(|e| format!("in `{path}`: {e}"))
}

#[cfg(test)]
mod tests {
    use crate::functions::testing::{check, eval, fails};

    #[test]
    fn base64_round_trip() {
        check("base64encode(\"hello\")", "\"aGVsbG8=\"");
        check("base64decode(\"aGVsbG8=\")", "\"hello\"");
        check(
            "base64decode(base64encode(\"#!/bin/sh\\necho hi\\n\"))",
            "\"#!/bin/sh\\necho hi\\n\"",
        );
        fails("base64decode(\"not base64!\")", "not valid base64");
        fails("base64decode(\"/w==\")", "not UTF-8");
    }

    #[test]
    fn jsonencode_sorts_keys() {
        check(
            "jsonencode({ b = [1, true, null], a = \"x\" })",
            "\"{\\\"a\\\":\\\"x\\\",\\\"b\\\":[1,true,null]}\"",
        );
        check("jsonencode(1.5)", "\"1.5\"");
    }

    #[test]
    fn file_and_templatefile_read_relative_to_cwd() {
        let dir = std::env::temp_dir().join(format!("updraft-config-fn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("boot.sh");
        std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
        let tpl = dir.join("boot.tpl");
        std::fs::write(
            &tpl,
            "port=${port}\n%{ for z in zones }${upper(z)} %{ endfor }\n",
        )
        .unwrap();

        let got = eval(&format!("file({:?})", script.display().to_string())).unwrap();
        assert_eq!(got, hcl::Value::from("#!/bin/sh\necho hi\n"));
        let got = eval(&format!(
            "templatefile({:?}, {{ port = 8080, zones = [\"a\", \"b\"] }})",
            tpl.display().to_string()
        ))
        .unwrap();
        assert_eq!(got, hcl::Value::from("port=8080\nA B \n"));

        let err = eval(&format!(
            "templatefile({:?}, {{}})",
            tpl.display().to_string()
        ))
        .unwrap_err();
        assert!(err.contains("port"), "{err}");
        fails("file(\"/definitely/not/here.sh\")", "path.module");
        fails("file(\"/\")", "not a regular file");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
