//! `cmmv new` and `cmmv add`: a new service crate, and a new contract in one. The files are
//! templates under `compiler/scaffold/` (embedded), with `{{placeholders}}` filled in here;
//! nothing here writes: the CLI does.

use std::path::{Path, PathBuf};

use crate::ir::{is_pascal_case, to_snake_case};

/// What `cmmv new` was asked for.
#[derive(Debug, Clone)]
pub struct NewService {
    /// The crate's name: lowercase letters, digits, `-` and `_`, starting with a letter.
    pub name: String,
    /// PostgreSQL rather than SQLite in `.env.example` and the Kubernetes Secret.
    pub postgres: bool,
    /// A Redis URL for the shared rate limiter in `.env.example` and the Secret.
    pub redis: bool,
    /// The CMMV workspace to depend on by path (`runtime/`, `compiler/`); `None`: versions
    /// from the registry.
    pub cmmv_path: Option<PathBuf>,
}

/// `(path, template)`: the files of a new service.
const FILES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../scaffold/Cargo.toml.tmpl")),
    ("build.rs", include_str!("../scaffold/build.rs")),
    ("src/lib.rs", include_str!("../scaffold/src/lib.rs")),
    ("src/main.rs", include_str!("../scaffold/src/main.rs")),
    ("tests/http.rs", include_str!("../scaffold/tests/http.rs")),
    (
        "contracts/cmmv.yaml",
        include_str!("../scaffold/contracts/cmmv.yaml"),
    ),
    (
        "contracts/item.yaml",
        include_str!("../scaffold/contracts/item.yaml"),
    ),
    ("README.md", include_str!("../scaffold/README.md")),
    (".env.example", include_str!("../scaffold/.env.example")),
    (".gitignore", include_str!("../scaffold/.gitignore")),
    (".dockerignore", include_str!("../scaffold/.dockerignore")),
    ("Dockerfile", include_str!("../scaffold/Dockerfile")),
    (
        "docker-compose.yml",
        include_str!("../scaffold/docker-compose.yml"),
    ),
    (
        "deploy/kubernetes.yaml",
        include_str!("../scaffold/deploy/kubernetes.yaml"),
    ),
    (
        ".github/workflows/ci.yml",
        include_str!("../scaffold/.github/workflows/ci.yml"),
    ),
];

/// Whether `name` can name a crate, a Kubernetes object and a proto package alike.
pub fn valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.len() <= 50
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// The files of a new service, relative to its directory.
pub fn new_service(service: &NewService) -> Result<Vec<(PathBuf, String)>, String> {
    if !valid_name(&service.name) {
        return Err(format!(
            "`{}` cannot name a crate: use lowercase letters, digits, `-` and `_`, starting with a letter",
            service.name
        ));
    }
    let ident = service.name.replace('-', "_");
    let dependency = |dir: &str| match &service.cmmv_path {
        Some(root) => format!("{{ path = {:?} }}", root.join(dir).display().to_string()),
        None => format!("{:?}", env!("CARGO_PKG_VERSION")),
    };
    let (database_url, k8s_database_url) = if service.postgres {
        (
            "postgres://postgres@127.0.0.1:5432/postgres",
            "postgres://app:replace-me@postgres:5432/app",
        )
    } else {
        ("sqlite://cmmv.db", "sqlite:///data/cmmv.db")
    };
    let (redis_line, k8s_redis_line) = if service.redis {
        (
            "CMMV_REDIS_URL=redis://127.0.0.1:6379",
            "  CMMV_REDIS_URL: \"redis://redis:6379\"\n",
        )
    } else {
        ("# CMMV_REDIS_URL=redis://127.0.0.1:6379", "")
    };
    // A SQLite file is one pod's: more replicas would each keep their own data.
    let (replicas, autoscaler) = if service.postgres {
        ("2", include_str!("../scaffold/deploy/autoscaler.yaml"))
    } else {
        ("1", "")
    };
    let fill = |template: &str| {
        // Parts first: they hold placeholders of their own.
        template
            .replace("{{autoscaler}}", autoscaler)
            .replace("{{replicas}}", replicas)
            .replace("{{crate_ident}}", &ident)
            .replace("{{crate}}", &service.name)
            .replace("{{k8s_name}}", &service.name.replace('_', "-"))
            .replace("{{package}}", &ident)
            .replace("{{name}}", &service.name)
            .replace("{{cmmv_compiler}}", &dependency("compiler"))
            .replace("{{cmmv}}", &dependency("runtime"))
            .replace("{{database_url}}", database_url)
            .replace("{{k8s_database_url}}", k8s_database_url)
            .replace("{{redis_line}}", redis_line)
            .replace("{{k8s_redis_line}}", k8s_redis_line)
    };
    Ok(FILES
        .iter()
        .map(|(path, template)| {
            let text = fill(template);
            // The names filled in change line lengths: the Rust is formatted as the user's
            // `cargo fmt --check` will want it.
            let text = if path.ends_with(".rs") {
                crate::output::rustfmt(&text).unwrap_or(text)
            } else {
                text
            };
            (PathBuf::from(path), text)
        })
        .collect())
}

/// The CMMV workspace this compiler was built from, when it is still there: `cmmv new` then
/// depends on it by path, since the crates are not on a registry yet.
pub fn own_workspace() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
    root.join("runtime/Cargo.toml")
        .is_file()
        .then(|| root.to_path_buf())
}

/// `contracts/<name>.yaml` of a new contract named `name` (PascalCase), and that file's name.
pub fn contract_skeleton(name: &str) -> Result<(String, String), String> {
    if !is_pascal_case(name) {
        return Err(format!(
            "`{name}` is not a contract name: use PascalCase, e.g. `Invoice`"
        ));
    }
    let file = format!("{}.yaml", to_snake_case(name));
    let text = format!(
        "contract: {name}
description: Describe one {noun} in a sentence.
# Open to anyone while you try it out; `auth: authenticated` (or roles) once tokens are set up.
auth: public
storage: {{ timestamps: true }}
fields:
  id: {{ type: uuid, primary: true }}
  name: {{ type: string, min_length: 1, max_length: 200, sortable: true, filterable: true }}
",
        noun = to_snake_case(name).replace('_', " ")
    );
    Ok((file, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_filled() {
        for (postgres, redis) in [(false, false), (true, true)] {
            let files = new_service(&NewService {
                name: "shop-api".to_owned(),
                postgres,
                redis,
                cmmv_path: Some(PathBuf::from("/src/cmmv")),
            })
            .expect("a valid name");
            for (path, text) in &files {
                assert!(!text.contains("{{"), "{}: {text}", path.display());
            }
            let manifest = &files[0].1;
            assert!(manifest.contains(r#"name = "shop-api""#));
            assert!(manifest.contains(r#"cmmv = { path = "/src/cmmv/runtime" }"#));
            let main = files
                .iter()
                .find(|(p, _)| p.ends_with("main.rs"))
                .expect("main.rs");
            assert!(main.1.contains("shop_api::serve"));
        }
        assert!(
            new_service(&NewService {
                name: "Shop".to_owned(),
                postgres: false,
                redis: false,
                cmmv_path: None,
            })
            .is_err()
        );
    }

    #[test]
    fn a_contract_skeleton_compiles() {
        let (file, text) = contract_skeleton("PurchaseOrder").expect("a valid name");
        assert_eq!(file, "purchase_order.yaml");
        let mut input = crate::Input::default();
        input.add_contract(file, text);
        let (_, diags) = crate::lower_and_validate(&input);
        assert!(!diags.has_errors(), "{diags:?}");
        assert!(contract_skeleton("purchase_order").is_err());
    }
}
