//! Print the tracker's state frame by frame for part of a MOTChallenge detection file: a tool for
//! studying association failures. `cargo run --release -p aisle-track --example trace -- DET FPS FIRST LAST [W H]`
#![allow(clippy::print_stdout)]

use aisle_track::motchallenge::read_detections;
use aisle_track::{Tracker, TrackerConfig};
use aisle_types::MediaTime;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 5 {
        return Err("usage: trace DET FPS FIRST LAST [WIDTH HEIGHT]".into());
    }
    let frames = read_detections(std::path::Path::new(&a[1]))?;
    let fps: f64 = a[2].parse()?;
    let (f0, f1): (u32, u32) = (a[3].parse()?, a[4].parse()?);
    let mut tr = Tracker::new(TrackerConfig::default())?;
    if a.len() >= 7 {
        tr.set_frame_size(a[5].parse()?, a[6].parse()?);
    }
    let last = *frames.keys().next_back().unwrap_or(&0);
    let empty = Vec::new();
    for f in 1..=last.min(f1) {
        let dets = frames.get(&f).unwrap_or(&empty);
        let t = MediaTime {
            ticks: (f64::from(f) / fps * 1e6).round() as i64,
            timescale: 1_000_000,
        };
        let tracks = tr.update(dets, t)?;
        if f >= f0 {
            println!("frame {f}");
            for (i, d) in dets.iter().enumerate() {
                let b = d.bbox;
                println!(
                    "  det {i:2} {:.2} [{:.0} {:.0} {:.0} {:.0}]",
                    d.score, b.x1, b.y1, b.x2, b.y2
                );
            }
            for t in tracks {
                let b = t.bbox;
                println!(
                    "  trk {:3} {:?}{} det {:?} [{:.0} {:.0} {:.0} {:.0}]",
                    t.id.0,
                    t.state,
                    if t.matched { "*" } else { "" },
                    t.detection,
                    b.x1,
                    b.y1,
                    b.x2,
                    b.y2
                );
            }
        }
    }
    Ok(())
}
