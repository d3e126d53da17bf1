//! `aisle schema`: the JSON Schemas (draft 2020-12) of what the device publishes and accepts
//! over MQTT, generated from the Rust types.
//!
//! `aisle schema` (or `aisle schema metrics`) prints the schema of the metric records, schema
//! v1; `docs/schema/metrics-v1.schema.json` is a copy that a test keeps equal to it.
//! `aisle schema mqtt --out DIR` writes the schemas of every other payload (status, config,
//! health, live, command requests and replies); `docs/mqtt/schemas/` is that directory, which
//! `docs/mqtt/asyncapi.yaml` refers to and a test keeps equal to the types.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
enum Which {
    /// The metric records (zone, line and camera records), schema v1.
    #[default]
    Metrics,
    /// Every other MQTT payload, one file each (needs --out).
    Mqtt,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which schema to print.
    #[arg(value_enum, default_value_t = Which::Metrics)]
    which: Which,
    /// `mqtt`: the directory to write the schema files into (created if missing).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

pub fn run(args: &SchemaArgs) -> Result<ExitCode> {
    match (args.which, &args.out) {
        (Which::Metrics, None) => {
            let mut out = std::io::stdout().lock();
            out.write_all(aisle_types::metrics::metrics_json_schema().as_bytes())?;
            out.flush()?;
        }
        (Which::Metrics, Some(_)) => bail!("--out is for `aisle schema mqtt`"),
        (Which::Mqtt, None) => bail!("`aisle schema mqtt` writes several files: give --out DIR"),
        (Which::Mqtt, Some(dir)) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            for (name, text) in aisle_fleet::payload::mqtt_schemas() {
                let path = dir.join(name);
                std::fs::write(&path, text)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                println!("{}", path.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
