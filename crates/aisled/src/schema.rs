//! `aisle schema`: the JSON Schema (draft 2020-12) of what the device publishes.
//!
//! `aisle schema` (or `aisle schema metrics`) prints the schema of the metric records, schema
//! v1, generated from the Rust types; `docs/schema/metrics-v1.schema.json` is a copy that a test
//! keeps equal to it.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, Default, ValueEnum)]
enum Which {
    /// The metric records (zone, line and camera records), schema v1.
    #[default]
    Metrics,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which schema to print.
    #[arg(value_enum, default_value_t = Which::Metrics)]
    which: Which,
}

pub fn run(args: &SchemaArgs) -> Result<ExitCode> {
    let text = match args.which {
        Which::Metrics => aisle_types::metrics::metrics_json_schema(),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
