//! Print the tracker's state frame by frame over part of a synthetic-store scenario (with the
//! colour descriptors): a tool for studying association failures.
//! `cargo run --release -p aisle-track --example sim_trace -- SCENARIO SEED FIRST LAST [ID...]`
//! (frames numbered from 1 as in MOTChallenge files; IDs: only these tracks).
#![allow(clippy::print_stdout)]

use aisle_sim::Scenario;
use aisle_track::{Tracker, TrackerConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 5 {
        return Err("usage: sim_trace SCENARIO SEED FIRST LAST [ID...]".into());
    }
    let mut s = Scenario::by_name(&a[1]).ok_or("unknown scenario")?;
    s.seed = a[2].parse()?;
    let (f0, f1): (u32, u32) = (a[3].parse()?, a[4].parse()?);
    let ids: Vec<u32> = a[5..].iter().filter_map(|x| x.parse().ok()).collect();
    let sim = aisle_sim::simulate(&s)?;
    let mut tr = Tracker::new(TrackerConfig::default())?;
    tr.set_frame_size(sim.image_width, sim.image_height);
    for f in &sim.frames {
        let n = f.index + 1;
        if n > f1 {
            break;
        }
        let tracks = tr.update_with_appearance(&f.detections, &f.appearance, f.time)?;
        if n < f0 {
            continue;
        }
        println!("frame {n}");
        for (i, d) in f.detections.iter().enumerate() {
            let b = d.bbox;
            println!(
                "  det {i:2} {:.2} [{:.0} {:.0} {:.0} {:.0}]",
                d.score, b.x1, b.y1, b.x2, b.y2
            );
        }
        for t in tracks {
            if !ids.is_empty() && !ids.contains(&t.id.0) {
                continue;
            }
            let b = t.bbox;
            println!(
                "  track {:3} {:?} matched {} det {:?} [{:.0} {:.0} {:.0} {:.0}]",
                t.id.0, t.state, t.matched, t.detection, b.x1, b.y1, b.x2, b.y2
            );
        }
        for r in tr.removed() {
            println!("  removed {}", r.0);
        }
    }
    Ok(())
}
