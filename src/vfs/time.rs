//! Calendar formatting for MDTM, MLSD `modify` and LIST dates, in UTC.
//! Days-to-date is Howard Hinnant's civil-from-days algorithm.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CivilTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl CivilTime {
    pub fn from_unix(secs: i64) -> CivilTime {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400) as u32;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        CivilTime {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
        }
    }

    pub fn month_abbrev(&self) -> &'static str {
        const M: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        M[(self.month as usize).saturating_sub(1) % 12]
    }
}

/// `YYYYMMDDHHMMSS` (RFC 3659 time-val).
pub fn mdtm(secs: i64) -> String {
    let t = CivilTime::from_unix(secs);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

/// A time a client asks a file to carry: seconds since 1970 (negative
/// before) and nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeVal {
    pub secs: i64,
    pub nanos: u32,
}

impl TimeVal {
    /// Parses an RFC 3659 time-val, `YYYYMMDDHHMMSS[.s…]` in UTC; `None`
    /// for anything else, including dates that do not exist.
    pub fn parse(text: &str) -> Option<TimeVal> {
        let (whole, frac) = match text.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (text, None),
        };
        if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let num = |r: std::ops::Range<usize>| whole[r].parse::<u32>().ok();
        let (year, month, day) = (num(0..4)?, num(4..6)?, num(6..8)?);
        let (hour, minute, second) = (num(8..10)?, num(10..12)?, num(12..14)?);
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        // 60 is a leap second, which Unix time folds into the next minute.
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let nanos = match frac {
            None => 0,
            Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => {
                let digits: u32 = f.parse().ok()?;
                digits * 10u32.pow(9 - f.len() as u32)
            }
            Some(_) => return None,
        };
        let days = days_from_civil(i64::from(year), month, day);
        let secs =
            days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
        Some(TimeVal { secs, nanos })
    }

    pub fn to_system_time(self) -> std::time::SystemTime {
        use std::time::{Duration, UNIX_EPOCH};
        let whole = Duration::from_secs(self.secs.unsigned_abs());
        let t = if self.secs >= 0 {
            UNIX_EPOCH + whole
        } else {
            UNIX_EPOCH - whole
        };
        t + Duration::from_nanos(u64::from(self.nanos))
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the inverse of
/// [`CivilTime::from_unix`]'s calendar step).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(mdtm(0), "19700101000000");
        assert_eq!(mdtm(951_782_400), "20000229000000");
        assert_eq!(mdtm(1_795_640_584), "20261125210304");
        assert_eq!(mdtm(-1), "19691231235959");
    }

    #[test]
    fn time_vals_parse_and_round_trip() {
        for secs in [
            0,
            951_782_400,
            1_795_640_584,
            -1,
            -62_167_219_200,
            253_402_300_799,
        ] {
            let t = TimeVal::parse(&mdtm(secs)).unwrap();
            assert_eq!(t, TimeVal { secs, nanos: 0 });
        }
        assert_eq!(
            TimeVal::parse("20000229000000.5"),
            Some(TimeVal {
                secs: 951_782_400,
                nanos: 500_000_000
            })
        );
        for bad in [
            "2000022900000",
            "20000230000000",
            "20010229000000",
            "20001301000000",
            "20000101240000",
            "2000010100000x",
            "20000101000000.",
            "20000101000000.1234567890",
            "+2000101000000",
        ] {
            assert_eq!(TimeVal::parse(bad), None, "{bad}");
        }
    }
}
