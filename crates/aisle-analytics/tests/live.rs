//! `CameraAnalytics::live`: occupancy right now, per customer zone (the MQTT `live` topic).

mod common;

use aisle_types::metrics::ZoneKind;
use common::*;

#[test]
fn live_occupancy_follows_people_in_and_out_and_leaves_staff_zones_out() {
    let mut shelf = rect("shelf", ZoneKind::Display, 0.2, 0.4, 0.4, 0.8);
    shelf.capacity = Some(4);
    let till = rect("till", ZoneKind::Staff, 0.7, 0.1, 0.9, 0.3);
    let mut sim = Sim::new(&[shelf, till], &[], &settings(1));
    assert_eq!(sim.a.last_update_unix_ms(), None);
    let live = |sim: &Sim| -> Vec<(String, ZoneKind, u32, Option<u32>)> {
        sim.a
            .live()
            .map(|l| (l.zone.to_string(), l.kind, l.occupancy, l.capacity))
            .collect()
    };
    // Before anyone: the customer zone at 0, the staff zone not listed.
    sim.step(0);
    assert_eq!(
        live(&sim),
        vec![("shelf".into(), ZoneKind::Display, 0, Some(4))]
    );
    // Two shoppers at the shelf, one walks out and leaves the view for good.
    sim.add(1, |ms| (ms < 20_000).then_some([0.3, 0.6]));
    sim.add(2, |ms| match ms {
        0..5_000 => Some([0.3, 0.5]),
        5_000..8_000 => Some([0.6, 0.6]),
        _ => None,
    });
    sim.run(100, 4_000);
    assert_eq!(live(&sim)[0].2, 2);
    assert_eq!(sim.a.last_update_unix_ms(), Some(EPOCH_MS + 4_000));
    sim.run(4_100, 7_000);
    assert_eq!(live(&sim)[0].2, 1, "one stepped out");
    // The one who stays, then leaves the view: held within the lost grace, then gone.
    sim.run(7_100, 21_000);
    assert_eq!(
        live(&sim)[0].2,
        1,
        "lost within grace still counts, as in the records"
    );
    sim.run(21_100, 40_000);
    assert_eq!(live(&sim)[0].2, 0);
}
