//! The `tracing` subscriber of the binary: log lines on standard error.
//!
//! Under systemd (standard error is the journal stream named by `JOURNAL_STREAM`, see
//! `systemd.exec(5)`; or `INVOCATION_ID` is set and standard error is not a terminal), each
//! line starts with its `sd-daemon(3)` priority (`<3>` error, `<4>` warning, `<6>` info,
//! `<7>` debug and trace), without a timestamp (the journal has one) and without colour:
//! `journalctl -p warning -u aisle` then filters by level. Elsewhere: tracing's usual format,
//! coloured on a terminal.
//!
//! The level filter comes from `AISLE_LOG` (`tracing_subscriber::EnvFilter` syntax); default
//! `warn`, with the embedded broker's own logs off.

use std::io::IsTerminal;

use tracing::{Level, Subscriber};
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::registry::LookupSpan;

/// Installs the subscriber (once, at the start of `main`).
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AISLE_LOG")
        // The embedded broker (rumqttd) logs ordinary disconnections as errors: its logs are
        // off unless asked for (`AISLE_LOG=warn,rumqttd=info`).
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,rumqttd=off"));
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    if under_systemd() {
        builder
            .with_ansi(false)
            .event_format(Journal(format::format().without_time().with_ansi(false)))
            .init();
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).init();
    }
}

/// Standard error goes to the journal.
fn under_systemd() -> bool {
    if let Some(stream) = std::env::var_os("JOURNAL_STREAM") {
        return stderr_is(&stream.to_string_lossy());
    }
    std::env::var_os("INVOCATION_ID").is_some() && !std::io::stderr().is_terminal()
}

/// Standard error is the file `JOURNAL_STREAM` names (`<device>:<inode>`, decimal).
fn stderr_is(journal_stream: &str) -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Some((dev, ino)) = journal_stream.split_once(':') else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    match std::fs::File::from(fd).metadata() {
        Ok(m) => m.dev() == dev && m.ino() == ino,
        Err(_) => false,
    }
}

/// The `sd-daemon(3)` priority prefix of a level.
fn priority(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "<3>",
        Level::WARN => "<4>",
        Level::INFO => "<6>",
        Level::DEBUG | Level::TRACE => "<7>",
    }
}

/// Tracing's full format (without time and colour) behind the priority prefix.
struct Journal<F>(F);

impl<S, N, F> FormatEvent<S, N> for Journal<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        writer.write_str(priority(event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_follow_sd_daemon() {
        assert_eq!(priority(&Level::ERROR), "<3>");
        assert_eq!(priority(&Level::WARN), "<4>");
        assert_eq!(priority(&Level::INFO), "<6>");
        assert_eq!(priority(&Level::DEBUG), "<7>");
        assert_eq!(priority(&Level::TRACE), "<7>");
    }

    #[test]
    fn journal_stream_must_name_standard_error() {
        assert!(!stderr_is("not-a-pair"));
        assert!(!stderr_is("1:x"));
        assert!(!stderr_is("0:0"));
    }
}
