//! Calendar arithmetic in UTC for budgets and the usage API: month boundaries,
//! RFC 3339 in and out.

use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime, Time};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn utc(unix_s: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix_s).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Months since January 1970 (a month's identity, for resetting monthly budgets).
pub fn month_index(unix_s: i64) -> i64 {
    let t = utc(unix_s);
    i64::from(t.year()) * 12 + i64::from(u8::from(t.month())) - 1
}

/// Unix seconds of the first instant of the UTC month containing `unix_s`.
pub fn month_start(unix_s: i64) -> i64 {
    let t = utc(unix_s);
    Date::from_calendar_date(t.year(), t.month(), 1)
        .map(|d| d.with_time(Time::MIDNIGHT).assume_utc().unix_timestamp())
        .unwrap_or(0)
}

/// Seconds until the next UTC month starts.
pub fn seconds_to_next_month(unix_s: i64) -> i64 {
    let t = utc(unix_s);
    let (year, month) = match t.month() {
        Month::December => (t.year() + 1, Month::January),
        m => (t.year(), m.next()),
    };
    Date::from_calendar_date(year, month, 1)
        .map(|d| d.with_time(Time::MIDNIGHT).assume_utc().unix_timestamp() - unix_s)
        .unwrap_or(86_400)
}

/// Unix seconds of the UTC midnight starting the day of `unix_s`.
pub fn day_start(unix_s: i64) -> i64 {
    unix_s - unix_s.rem_euclid(86_400)
}

/// `3h 20m`, `12m 5s`, `40s`: a wait a person can read.
pub fn human_duration(secs: i64) -> String {
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {s}s")
    } else {
        format!("{s}s")
    }
}

/// RFC 3339 (UTC, milliseconds) of a Unix time in milliseconds.
pub fn format_ms(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    t.format(&Rfc3339).unwrap_or_default()
}

/// Parses `from`/`to`: RFC 3339 (`2025-06-01T00:00:00Z`) or Unix seconds.
/// Returns milliseconds since the epoch.
pub fn parse_instant(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<i64>() {
        return secs.checked_mul(1000);
    }
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_boundaries() {
        // 2024-02-29T12:00:00Z
        let t = 1_709_208_000;
        assert_eq!(month_start(t), 1_706_745_600); // 2024-02-01
        assert_eq!(t + seconds_to_next_month(t), 1_709_251_200); // 2024-03-01
        assert_eq!(month_index(t) + 1, month_index(1_709_251_200));
        // December rolls into the next year.
        let dec = 1_735_603_200; // 2024-12-31
        assert_eq!(dec + seconds_to_next_month(dec), 1_735_689_600);
    }

    #[test]
    fn instants_parse_both_ways() {
        assert_eq!(parse_instant("1700000000"), Some(1_700_000_000_000));
        assert_eq!(
            parse_instant("2023-11-14T22:13:20Z"),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            parse_instant("2023-11-15T00:13:20+02:00"),
            Some(1_700_000_000_000)
        );
        assert_eq!(parse_instant("yesterday"), None);
        assert_eq!(format_ms(1_700_000_000_000), "2023-11-14T22:13:20Z");
    }
}
