//! `aisle`: the Aisle appliance's command line.
//!
//! - `aisle detect`: run the person detector over a video file and print per-frame counts
//!   (or boxes with `--json`).
//! - `aisle check`: probe every configured part (ONNX Runtime, models, GPU libraries) and say
//!   how to fix what is missing.
//! - `aisle probe`: connect to a camera (RTSP) or open a file, print codec, resolution, frame
//!   rate and GOP length, and decode the first frames.
//! - `aisle track`: run the tracker on a MOTChallenge detection file, write the tracks.
//! - `aisle eval tracking`: score the tracker on the synthetic store's scenarios.
//! - `aisle run`: cameras (or video files) of the config -> detector -> tracker -> zone
//!   analytics; prints the metric records as JSON lines (and publishes them with `[mqtt]`,
//!   taking commands: exit status 75 after a `restart` command). Under systemd it is a
//!   `Type=notify` daemon (`crate::daemon`): READY/STATUS/STOPPING/WATCHDOG, SIGTERM stops it
//!   gracefully, SIGHUP reloads the config file.
//! - `aisle replay`: a MOTChallenge detection file -> tracker -> zone analytics -> JSON lines.
//! - `aisle models prepare`: first-boot preparation (config, model checksums, CUDA kernels and
//!   TensorRT engines cached under the state directory); `aisle-prepare.service` runs it.
//! - `aisle schema`: the JSON Schema of the metric records.
//! - `aisle watch`: subscribe to the MQTT topic tree and show the latest zone figures and device
//!   states as a live table.

mod check;
mod daemon;
mod detect;
mod eval;
mod faces;
mod health;
mod logging;
mod models;
mod pipeline;
mod probe;
mod replay;
mod run;
mod schema;
mod supervisor;
mod track;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "aisle",
    version,
    about = "Aisle: privacy-first retail analytics from store cameras"
)]
struct Cli {
    /// Configuration file (TOML); without it, built-in defaults are used.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Detect people in a video file (H.264 or H.265, in MP4 or as an Annex B stream).
    Detect(detect::DetectArgs),
    /// Probe every configured part and print each with its fix.
    Check,
    /// Connect to a camera (rtsp://...) or open a video file; print codec, resolution, frame
    /// rate and GOP length, then decode the first frames.
    Probe(probe::ProbeArgs),
    /// Track people in a MOTChallenge detection file; write the tracks in MOTChallenge format.
    Track(track::TrackArgs),
    /// Measure against ground truth: `aisle eval tracking` scores the tracker on synthetic stores.
    Eval(eval::EvalArgs),
    /// Analyse the config's cameras (or video files) and print metric records as JSON lines.
    Run(run::RunArgs),
    /// Analyse a MOTChallenge detection file with a camera's zones and lines; print metric
    /// records as JSON lines.
    Replay(replay::ReplayArgs),
    /// Models: `aisle models prepare` does the first-boot work (config check, model checksums,
    /// CUDA kernels and TensorRT engines into the cache).
    Models(models::ModelsArgs),
    /// Print the JSON Schema of the metric records.
    Schema(schema::SchemaArgs),
    /// Show the live zone metrics and device states published on an MQTT broker as a table
    /// (default broker: the embedded one, mqtt://127.0.0.1:1883).
    Watch(watch::WatchArgs),
}

fn main() -> ExitCode {
    logging::init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Detect(args) => detect::run(cli.config.as_deref(), &args),
        Command::Check => check::run(cli.config.as_deref()),
        Command::Probe(args) => probe::run(cli.config.as_deref(), &args),
        Command::Track(args) => track::run(cli.config.as_deref(), &args),
        Command::Eval(args) => eval::run(cli.config.as_deref(), &args),
        Command::Run(args) => run::run(cli.config.as_deref(), &args),
        Command::Replay(args) => replay::run(cli.config.as_deref(), &args),
        Command::Schema(args) => schema::run(&args),
        Command::Models(args) => models::run(cli.config.as_deref(), &args),
        Command::Watch(args) => watch::run(cli.config.as_deref(), &args),
    };
    match result {
        Ok(code) => code,
        // A closed pipe (`aisle check | head`) is how the reader says it has seen enough.
        Err(e)
            if e.chain()
                .filter_map(|c| c.downcast_ref::<std::io::Error>())
                .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
