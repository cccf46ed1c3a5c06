//! Byte counts on the command line (`500K`, `2MiB`, `1.5G`, `1000`), one
//! rule for every size and rate flag: K, M, G, T (or KB, MB, GB, TB) are
//! powers of 1000, KiB, MiB, GiB, TiB powers of 1024, as in SI and IEC;
//! case does not matter and a bare number is bytes.

/// Parses a byte count; the arithmetic is exact and checked, and a
/// fraction of a byte is dropped (`1.5K` is 1500, `0.5` is 0).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let text = s.trim();
    if text.starts_with('-') {
        return Err("a size cannot be negative".into());
    }
    let bad = || format!("{text:?} is not a size (try 500K, 2MiB, 1G or a number of bytes)");
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(fraction) {
        return Err(bad());
    }
    let mult: u128 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "m" | "mb" => 1000u128.pow(2),
        "g" | "gb" => 1000u128.pow(3),
        "t" | "tb" => 1000u128.pow(4),
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        u => {
            return Err(format!(
                "unknown unit {u:?} in {text:?} (K, M, G, T = 1000-based; KiB, MiB, GiB, TiB = 1024-based)"
            ))
        }
    };
    let too_large = || format!("{text:?} is too large (at most 16 EiB)");
    // More digits than u128 can hold are surely too large.
    let whole: u128 = whole.parse().map_err(|_| too_large())?;
    let mut bytes = whole.checked_mul(mult).ok_or_else(too_large)?;
    // A fraction finer than a byte changes nothing: read only the digits
    // that can matter, so no long fraction overflows.
    let fraction = &fraction[..fraction.len().min(12)];
    if !fraction.is_empty() {
        let scale = 10u128.pow(fraction.len() as u32);
        let digits: u128 = fraction.parse().map_err(|_| bad())?;
        // The whole part may fill u128 nearly to the brim: the fraction's
        // bytes are added checked, or a huge size would wrap to a tiny one.
        let part = digits.checked_mul(mult).ok_or_else(too_large)? / scale;
        bytes = bytes.checked_add(part).ok_or_else(too_large)?;
    }
    u64::try_from(bytes).map_err(|_| too_large())
}

/// A size limit: at least one byte (leaving the flag out means no limit).
pub fn parse_limit(s: &str) -> Result<u64, String> {
    match parse_size(s)? {
        0 => Err("must be at least 1 byte (leave the option out for no limit)".into()),
        n => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_follow_si_and_iec() {
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("500K"), Ok(500_000));
        assert_eq!(parse_size("500kb"), Ok(500_000));
        assert_eq!(parse_size("2MiB"), Ok(2 << 20));
        assert_eq!(parse_size("2 mib"), Ok(2 << 20));
        assert_eq!(parse_size("1G"), Ok(1_000_000_000));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("1.5K"), Ok(1500));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        assert_eq!(parse_size("0.5"), Ok(0));
        assert_eq!(parse_size("2TiB"), Ok(2 << 40));
        assert_eq!(parse_size("7B"), Ok(7));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(
            parse_size("0.1234567890123456789012345678901234567890G"),
            Ok(123_456_789)
        );
    }

    #[test]
    fn the_largest_size_fits_and_one_more_does_not() {
        assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
        assert!(parse_size("18446744073709551616").is_err());
        assert!(parse_size("16777216TiB").is_err());
        assert!(parse_size("99999999999999999999999999999999999999999999G").is_err());
        assert!(parse_size("18446744073709.551616M").is_err());
    }

    /// A whole part that fits u128 only just, times its unit, plus a
    /// fraction: the sum passes u128 and once wrapped to 543 bytes.
    #[test]
    fn a_fraction_cannot_wrap_a_huge_size_around() {
        for huge in [
            "340282366920938463463374607431768211.999K",
            "340282366920938463463374607431768211.999kb",
            "340282366920938463463374607431768211455.9",
            "309485009821345068724781055.999999999999TiB",
        ] {
            let got = parse_size(huge);
            assert!(
                got.as_ref().is_err_and(|e| e.contains("too large")),
                "{huge}: {got:?}"
            );
            assert!(parse_limit(huge).is_err(), "{huge}");
        }
        assert_eq!(parse_size("18446744073709551614.999"), Ok(u64::MAX - 1));
        assert_eq!(parse_size("18446744073709551.615K"), Ok(u64::MAX));
    }

    #[test]
    fn bad_sizes_say_what_is_wrong() {
        for bad in [
            "", "K", "-1", "1..5K", "1.5.2", ".5", "1 K B", "ten", "5Q", "1e9",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
        assert!(parse_size("5Q").unwrap_err().contains("unknown unit"));
        assert!(parse_limit("0").unwrap_err().contains("at least 1 byte"));
        assert_eq!(parse_limit("1"), Ok(1));
    }
}
