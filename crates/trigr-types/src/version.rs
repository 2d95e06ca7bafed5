//! Deployment versions `YYYYMMDD.N`, compared part by part as numbers.

use std::cmp::Ordering;

/// The version of the `n`-th deployment of a day (`day` as `YYYYMMDD`).
pub fn format(day: &str, n: u32) -> String {
    format!("{day}.{n}")
}

/// Compares two versions by their dot-separated parts as numbers (`20240815.10 > 20240815.9`).
/// Parts that are not numbers compare as text after all numeric parts.
pub fn compare(a: &str, b: &str) -> Ordering {
    let mut pa = a.split('.');
    let mut pb = b.split('.');
    loop {
        match (pa.next(), pb.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let ord = match (digits(x), digits(y)) {
                    (Some(nx), Some(ny)) => nx.len().cmp(&ny.len()).then_with(|| nx.cmp(ny)),
                    (Some(_), None) => Ordering::Less,
                    (None, Some(_)) => Ordering::Greater,
                    (None, None) => x.cmp(y),
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

/// A part made of decimal digits only, without its leading zeros: two such parts compare as
/// numbers by length, then digit by digit, however long they are.
fn digits(part: &str) -> Option<&str> {
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(part.trim_start_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_parts() {
        assert_eq!(compare("20240815.10", "20240815.9"), Ordering::Greater);
        assert_eq!(compare("20240815.1", "20240815.1"), Ordering::Equal);
        assert_eq!(compare("20240815.01", "20240815.1"), Ordering::Equal);
        assert_eq!(
            compare("047300000000000000000", "20000000000000000000"),
            Ordering::Greater,
            "parts beyond 64 bits still compare as numbers"
        );
        assert_eq!(compare("20240814.9", "20240815.1"), Ordering::Less);
        assert_eq!(format("20261126", 3), "20261126.3");
    }
}
