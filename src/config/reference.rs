//! The configuration reference in `docs/configuration.md`, generated from
//! the catalogue so the page cannot drift from the code: every broker key
//! with its type, default, whether it can change at run time and whether
//! Runnel acts on it, then every topic key with the broker keys that supply
//! its default. The unit test below fails when the page is stale;
//! `RUNNEL_UPDATE_DOCS=1 cargo test --lib config::reference` rewrites it.

use super::catalogue::{BROKER_CONFIGS, ConfigType, INERT_KEYS, KeyDef};
use super::topic::{TOPIC_CONFIGS, is_dynamic_broker_key};

fn type_name(ty: ConfigType) -> &'static str {
    match ty {
        ConfigType::Boolean => "boolean",
        ConfigType::String => "string",
        ConfigType::Int => "int",
        ConfigType::Short => "short",
        ConfigType::Long => "long",
        ConfigType::Double => "double",
        ConfigType::List => "list",
        ConfigType::Class => "class",
        ConfigType::Password => "password",
    }
}

/// A table cell: `|` and newlines would break the row.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn default_cell(def: &KeyDef) -> String {
    match def.default {
        None => "null".into(),
        Some("") => "(empty)".into(),
        Some(v) => format!("`{}`", cell(v)),
    }
}

/// The whole page.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Configuration reference\n\n\
         Generated from `src/config/catalogue.rs` and `src/config/topic.rs` by\n\
         `src/config/reference.rs`; do not edit by hand (`RUNNEL_UPDATE_DOCS=1 cargo test --lib\n\
         config::reference` rewrites it). Set keys in the TOML file, a `server.properties`, a\n\
         `KAFKA_*` variable or `--override` (README, \"Configuration\"); `runnel --print-config`\n\
         shows the effective value of each and where it came from.\n\n\
         - **dynamic**: can be changed at run time with IncrementalAlterConfigs / `kafka-configs`.\n\
         - **acted on**: \"no\" for keys accepted so Kafka's files load unchanged, but not used yet\n\
           (one INFO line at start-up lists those that are set).\n\n\
         ## Broker\n\n\
         | key | type | default | dynamic | acted on | description |\n\
         | --- | --- | --- | --- | --- | --- |\n",
    );
    let mut broker: Vec<&KeyDef> = BROKER_CONFIGS.iter().collect();
    broker.sort_by_key(|d| d.name);
    for def in broker {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            def.name,
            type_name(def.ty),
            default_cell(def),
            if is_dynamic_broker_key(def.name) {
                "yes"
            } else {
                "no"
            },
            if INERT_KEYS.contains(&def.name) {
                "no"
            } else {
                "yes"
            },
            cell(def.doc),
        ));
    }
    out.push_str(
        "\n## Topic\n\n\
         Set per topic with CreateTopics or IncrementalAlterConfigs; unset, a topic takes the\n\
         first broker key of its synonyms that is set, else the default.\n\n\
         | key | type | default | broker synonyms | description |\n\
         | --- | --- | --- | --- | --- |\n",
    );
    let mut topics: Vec<_> = TOPIC_CONFIGS.iter().collect();
    topics.sort_by_key(|d| d.key.name);
    for def in topics {
        let synonyms = if def.synonyms.is_empty() {
            "-".to_string()
        } else {
            def.synonyms
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            def.key.name,
            type_name(def.key.ty),
            default_cell(&def.key),
            synonyms,
            cell(def.key.doc),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_reference_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md");
        let want = markdown();
        if std::env::var_os("RUNNEL_UPDATE_DOCS").is_some() {
            std::fs::write(&path, &want).expect("writing docs/configuration.md");
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "docs/configuration.md is stale: run RUNNEL_UPDATE_DOCS=1 cargo test --lib config::reference"
        );
        assert_eq!(
            want.lines().filter(|l| l.starts_with("| `")).count(),
            BROKER_CONFIGS.len() + TOPIC_CONFIGS.len()
        );
    }
}
