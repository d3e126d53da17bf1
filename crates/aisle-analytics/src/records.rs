//! Building the records of a closing period from its accumulators and the held state.
//! Only aggregates leave: counts, sums, integrals, distinct counts, the longest dwell.

use aisle_types::metrics::{
    CameraRecord, Dwell, Heatmap, LineRecord, MetricRecord, Occupancy, Period, Queue, RecordHeader,
    Transition, ZoneKind, ZoneRecord,
};

use crate::engine::Engine;

/// `0 < n < k`: too few people to publish.
fn too_few(n: u32, k: u32) -> bool {
    n > 0 && n < k
}

impl Engine {
    /// Appends the records of the window or report period as it stands (zones in config order,
    /// lines, camera).
    pub(crate) fn emit(&mut self, period: Period, out: &mut Vec<MetricRecord>) {
        let end = self.clock;
        let k = self.s.min_visitors;
        let nz = self.zones.len();
        let acc = match period {
            Period::Window => &mut self.window,
            Period::Report => &mut self.report,
        };
        let (start, length, observed) = (acc.start_unix_s(), acc.length_s, acc.observed_s);
        let header = |subject: &str, suppressed: bool| {
            RecordHeader::new(
                &self.camera,
                subject,
                period,
                start,
                length,
                r3(observed),
                k,
                suppressed,
            )
        };

        for (z, zone) in self.zones.iter().enumerate() {
            if zone.is_staff() {
                continue;
            }
            let za = &mut acc.zones[z];
            let visitors = za.visitor_count();
            let suppressed = too_few(visitors, k);
            let mut rec = ZoneRecord {
                header: header(&zone.name, suppressed),
                zone: zone.name.clone(),
                zone_kind: zone.kind,
                visitors: None,
                entries: None,
                occupancy: None,
                dwell: None,
                bounces: None,
                engaged: None,
                transitions: None,
                utilisation: None,
                queue: None,
            };
            if suppressed {
                self.stats.records_suppressed += 1;
                out.push(MetricRecord::Zone(rec));
                continue;
            }
            let now = self.occupants[z].len();
            let mean = if observed > 0.0 {
                za.person_seconds / observed
            } else {
                0.0
            };
            let (mut in_progress, mut in_progress_s) = (0u32, 0.0f64);
            for slot in self.open[z].iter() {
                let v = &self.visits[slot * nz + z];
                let until = if v.pending_exit() {
                    v.outside_since
                } else {
                    end
                };
                in_progress += 1;
                in_progress_s += (until - v.start).max(0.0);
            }
            let d = &mut za.dwell;
            let (p50, p90) = d.percentiles();
            let mean_dwell = (d.count > 0).then(|| d.sum / f64::from(d.count));
            rec.visitors = Some(visitors);
            rec.entries = Some(za.entries);
            rec.occupancy = Some(Occupancy {
                person_seconds: r3(za.person_seconds),
                mean: r6(mean),
                max: za.max,
                now,
            });
            rec.dwell = Some(Dwell {
                count: d.count,
                sum_s: r3(d.sum),
                mean_s: mean_dwell.map(r3),
                p50_s: p50.map(r3),
                p90_s: p90.map(r3),
                max_s: (d.count > 0).then_some(r3(d.max)),
                exact: d.exact(),
                histogram: d.histogram.to_vec(),
                in_progress,
                in_progress_s: r3(in_progress_s),
            });
            rec.bounces = Some(d.bounces);
            rec.engaged = Some(d.engaged);
            rec.transitions = Some(
                self.zones
                    .iter()
                    .zip(za.transitions.iter())
                    .filter(|(_, &c)| c > 0)
                    .map(|(to, &count)| Transition {
                        to: to.name.clone(),
                        count,
                    })
                    .collect(),
            );
            rec.utilisation = zone
                .capacity
                .filter(|&c| c > 0)
                .map(|c| r6(mean / f64::from(c)));
            if zone.kind == ZoneKind::Queue {
                let rate = self.rings[z].as_ref().and_then(|r| r.rate());
                rec.queue = Some(Queue {
                    length_mean: r6(mean),
                    length_max: za.max,
                    length_now: now,
                    wait_mean_s: mean_dwell.map(r3),
                    wait_estimate_s: rate.map(|r| r3(f64::from(now) / r)),
                });
            }
            out.push(MetricRecord::Zone(rec));
        }

        for (l, line) in self.lines.iter().enumerate() {
            let la = &acc.lines[l];
            let suppressed = too_few(la.crosser_count(), k);
            if suppressed {
                self.stats.records_suppressed += 1;
            }
            out.push(MetricRecord::Line(LineRecord {
                header: header(&line.name, suppressed),
                line: line.name.clone(),
                crossings_in: (!suppressed).then_some(la.crossings_in),
                crossings_out: (!suppressed).then_some(la.crossings_out),
            }));
        }

        let visitors = acc.camera_visitors();
        let suppressed = too_few(visitors, k);
        if suppressed {
            self.stats.records_suppressed += 1;
        }
        out.push(MetricRecord::Camera(CameraRecord {
            header: header("camera", suppressed),
            visitors: (!suppressed).then_some(visitors),
            person_seconds: (!suppressed).then_some(r3(acc.camera_person_seconds)),
            heatmap: (!suppressed).then(|| Heatmap {
                cols: acc.heat.cols,
                rows: acc.heat.rows,
                person_seconds: acc.heat.published(k),
            }),
        }));
    }
}

/// Times are published to the millisecond (person-seconds, dwell): more digits are float noise
/// of summed time steps, not information.
pub(crate) fn r3(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}

/// Ratios (mean occupancy, utilisation) to six decimals, for the same reason.
pub(crate) fn r6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}
