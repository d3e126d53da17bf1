//! Marking replayed records: a record published from the spool after an outage or a restart
//! carries `"historical": true` (ARCHITECTURE.md, "MQTT (v5) topic tree"), next to its stable id
//! (`RecordHeader.id`), so that live dashboards can tell late data from live data and
//! subscribers can de-duplicate.
//!
//! The spool stores the serialised record as published the first time; the flag is added to the
//! JSON text at replay, without re-serialising it: key order, number formatting and every other
//! byte of the record stay as they were (a round trip through `serde_json::Value` would sort the
//! keys and could reformat floats).

/// Why a payload could not be marked.
#[derive(Debug, thiserror::Error)]
pub enum HistoricalError {
    #[error("payload is not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    #[error("payload is JSON but not an object")]
    NotAnObject,
    #[error("payload already has a \"historical\" key that is not true")]
    Conflict,
}

/// The JSON object `payload` with `"historical":true` inserted as its first key.
///
/// A payload that already says `"historical": true` comes back unchanged (replaying twice is
/// harmless); one that says anything else there is a [`HistoricalError::Conflict`]. Leading and
/// trailing whitespace is kept.
pub fn mark_historical(payload: &[u8]) -> Result<Vec<u8>, HistoricalError> {
    let value: serde_json::Value = serde_json::from_slice(payload)?;
    let object = value.as_object().ok_or(HistoricalError::NotAnObject)?;
    match object.get("historical") {
        Some(serde_json::Value::Bool(true)) => return Ok(payload.to_vec()),
        Some(_) => return Err(HistoricalError::Conflict),
        None => {}
    }
    // Valid JSON whose value is an object: the first non-whitespace byte is its `{`.
    let open = payload
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .ok_or(HistoricalError::NotAnObject)?;
    debug_assert_eq!(payload[open], b'{');
    let insert: &[u8] = if object.is_empty() {
        b"\"historical\":true"
    } else {
        b"\"historical\":true,"
    };
    let mut out = Vec::with_capacity(payload.len() + insert.len());
    out.extend_from_slice(&payload[..=open]);
    out.extend_from_slice(insert);
    out.extend_from_slice(&payload[open + 1..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_the_flag_first_and_keeps_every_other_byte() {
        let marked = mark_historical(br#"{"schema":"aisle.metrics.v1","x":1.50}"#).unwrap();
        assert_eq!(
            std::str::from_utf8(&marked).unwrap(),
            r#"{"historical":true,"schema":"aisle.metrics.v1","x":1.50}"#
        );
    }

    #[test]
    fn empty_object_and_whitespace() {
        assert_eq!(
            mark_historical(b" {} \n").unwrap(),
            b" {\"historical\":true} \n"
        );
        assert_eq!(
            mark_historical(b"\n{ \"a\" : [1] }").unwrap(),
            b"\n{\"historical\":true, \"a\" : [1] }"
        );
    }

    #[test]
    fn already_marked_is_unchanged_and_conflicts_are_errors() {
        let once = mark_historical(br#"{"a":1}"#).unwrap();
        assert_eq!(mark_historical(&once).unwrap(), once);
        assert!(matches!(
            mark_historical(br#"{"historical":false}"#),
            Err(HistoricalError::Conflict)
        ));
    }

    #[test]
    fn rejects_non_objects() {
        assert!(matches!(
            mark_historical(b"[1,2]"),
            Err(HistoricalError::NotAnObject)
        ));
        assert!(matches!(
            mark_historical(b"{\"a\":"),
            Err(HistoricalError::NotJson(_))
        ));
        assert!(matches!(
            mark_historical(b""),
            Err(HistoricalError::NotJson(_))
        ));
    }
}
