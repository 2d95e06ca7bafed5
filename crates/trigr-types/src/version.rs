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
                let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(nx), Ok(ny)) => nx.cmp(&ny),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_parts() {
        assert_eq!(compare("20240815.10", "20240815.9"), Ordering::Greater);
        assert_eq!(compare("20240815.1", "20240815.1"), Ordering::Equal);
        assert_eq!(compare("20240814.9", "20240815.1"), Ordering::Less);
        assert_eq!(format("20261126", 3), "20261126.3");
    }
}
