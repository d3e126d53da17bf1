//! Untrusted config text -> `Config::parse`: the operator's TOML file, parsed and validated.
//!
//! The input is read as UTF-8 (invalid sequences replaced) and parsed; errors are fine, panics
//! are not. A config that passes must pass its own validation again, and each camera's zones,
//! lines and `[analytics]` must set up the zone analytics (`aisle run` does that next): the
//! config's checks are at least as strict as the engine's. Run by `scripts/fuzz.sh` (bounded),
//! seeded with `examples/vtest.toml` and the TOML examples of `docs/config.md`.
#![no_main]

use aisle_analytics::CameraAnalytics;
use aisle_config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(config) = Config::parse(&text, "fuzz") else {
        return;
    };
    config
        .validate("fuzz")
        .expect("a parsed config validates again");
    for camera in &config.cameras {
        assert!(config.camera(&camera.id).is_some());
        if let Err(e) = CameraAnalytics::new(
            &camera.id,
            1920,
            1080,
            &config.zones,
            &config.lines,
            &config.analytics,
            1_795_635_840_000,
        ) {
            panic!("a validated config fails the analytics set-up: {e}");
        }
    }
});
