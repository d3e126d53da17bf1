//! The architectural proof that no video leaves the device (ARCHITECTURE.md, crate map):
//! `aisle-fleet`, the only crate that talks to the outside, depends neither directly nor
//! transitively on the crates that touch pixels.

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

const FORBIDDEN: [&str; 4] = ["aisle-video", "aisle-gpu", "aisle-infer", "aisle-vision"];

#[test]
fn aisle_fleet_does_not_depend_on_video_gpu_infer_or_vision() {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let name_of: HashMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    // Every forbidden crate is a workspace member: the check below would be vacuous otherwise.
    for name in FORBIDDEN {
        assert!(
            name_of.values().any(|n| *n == name),
            "{name} not in the workspace"
        );
    }
    let nodes: HashMap<&str, &serde_json::Value> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let fleet = *name_of
        .iter()
        .find(|(_, n)| **n == "aisle-fleet")
        .expect("aisle-fleet in the metadata")
        .0;

    // Edges to follow: every kind out of aisle-fleet itself (its tests must not pull video in
    // either), then normal and build dependencies (what ends up linked into a dependant).
    let mut seen = BTreeSet::new();
    let mut stack = vec![(fleet, true, vec!["aisle-fleet"])];
    while let Some((id, root, path)) = stack.pop() {
        for dep in nodes[id]["deps"].as_array().unwrap() {
            let follows = root
                || dep["dep_kinds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|k| k["kind"].is_null() || k["kind"] == "build");
            if !follows {
                continue;
            }
            let dep_id = dep["pkg"].as_str().unwrap();
            let name = name_of[dep_id];
            let mut dep_path = path.clone();
            dep_path.push(name);
            assert!(
                !FORBIDDEN.contains(&name),
                "aisle-fleet depends on {name}: {}",
                dep_path.join(" -> ")
            );
            if seen.insert(dep_id) {
                stack.push((dep_id, false, dep_path));
            }
        }
    }
    // The walk did reach the crates aisle-fleet is meant to use.
    assert!(seen.iter().any(|id| name_of[id] == "crc32fast"));
}
