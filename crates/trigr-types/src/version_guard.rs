//! The `ifVersion` guard language: conditions on the deployment version of a run.
//!
//! A guard is one clause or several clauses joined by commas, all of which must hold
//! (whitespace around clauses and after operators is allowed):
//!
//! | form                      | matches                                                  |
//! |---------------------------|----------------------------------------------------------|
//! | `20240815.1`              | exactly that version                                     |
//! | `>=v` `>v` `<=v` `<v`     | versions ordered that way against `v`                    |
//! | `=v` `==v` `!=v`          | versions equal (or not equal) to `v`                     |
//! | `20240815.*`              | versions whose leading parts are `20240815` (`*`: all)   |
//! | `>=20240815.1,<20240901.0`| versions matching every clause                           |
//!
//! Versions compare part by part as unsigned numbers (`20240815.10 > 20240815.9`), and a
//! missing trailing part counts as 0 (`20240815 == 20240815.0`). A part is 1 to
//! [`MAX_PART_DIGITS`] decimal digits; a version has at most [`MAX_PARTS`] parts; an
//! expression is at most [`MAX_EXPRESSION_CHARS`] characters and [`MAX_CLAUSES`] clauses.
//!
//! A run whose version is not yet locked (`None`), or whose version does not parse,
//! matches no guard at all — not even `*` or `!=v`.

use std::cmp::Ordering;
use std::fmt;

/// The most characters an `ifVersion` expression may have.
pub const MAX_EXPRESSION_CHARS: usize = 256;
/// The most comma-separated clauses an `ifVersion` expression may have.
pub const MAX_CLAUSES: usize = 16;
/// The most dot-separated parts a version may have.
pub const MAX_PARTS: usize = 8;
/// The most decimal digits one part of a version may have (so every part fits a `u64`).
pub const MAX_PART_DIGITS: usize = 18;

/// A parsed version: its numeric parts. Equality and order treat missing trailing parts
/// as 0, so `20240815` equals `20240815.0`.
#[derive(Debug, Clone)]
pub struct Version {
    parts: Vec<u64>,
}

/// Why a version string is not a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VersionFault {
    NotAVersion,
    PartTooLong,
    TooManyParts(usize),
}

fn parse_parts(text: &str) -> Result<Vec<u64>, VersionFault> {
    if text.split('.').count() > MAX_PARTS {
        return Err(VersionFault::TooManyParts(text.split('.').count()));
    }
    text.split('.')
        .map(|part| {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                Err(VersionFault::NotAVersion)
            } else if part.len() > MAX_PART_DIGITS {
                Err(VersionFault::PartTooLong)
            } else {
                part.parse::<u64>().map_err(|_| VersionFault::NotAVersion)
            }
        })
        .collect()
}

impl Version {
    /// Parses `20240815.1`; `None` if it is not 1 to [`MAX_PARTS`] dot-separated parts of
    /// 1 to [`MAX_PART_DIGITS`] decimal digits each (no sign, no whitespace).
    pub fn parse(text: &str) -> Option<Version> {
        parse_parts(text).ok().map(|parts| Version { parts })
    }

    /// The numeric parts as written (trailing zeros kept).
    pub fn parts(&self) -> &[u64] {
        &self.parts
    }

    /// Part `i`, 0 when the version is shorter.
    fn part(&self, i: usize) -> u64 {
        self.parts.get(i).copied().unwrap_or(0)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let len = self.parts.len().max(other.parts.len());
        (0..len)
            .map(|i| self.part(i).cmp(&other.part(i)))
            .find(|ord| ord.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Version {}

fn write_parts(f: &mut fmt::Formatter<'_>, parts: &[u64]) -> fmt::Result {
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            f.write_str(".")?;
        }
        write!(f, "{part}")?;
    }
    Ok(())
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_parts(f, &self.parts)
    }
}

/// Compares two version strings numerically, part by part (missing trailing parts count
/// as 0); `None` if either is not a version.
pub fn compare_versions(a: &str, b: &str) -> Option<Ordering> {
    Some(Version::parse(a)?.cmp(&Version::parse(b)?))
}

/// A comparison operator of a clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `=` or `==`
    Eq,
    /// `!=`
    Ne,
}

impl Op {
    fn from_token(token: &str) -> Option<Op> {
        Some(match token {
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "<" => Op::Lt,
            "<=" => Op::Le,
            "=" | "==" => Op::Eq,
            "!=" => Op::Ne,
            _ => return None,
        })
    }

    /// The operator as written in a guard (`Eq` as `=`).
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Eq => "=",
            Op::Ne => "!=",
        }
    }

    fn holds(self, ord: Ordering) -> bool {
        match self {
            Op::Gt => ord.is_gt(),
            Op::Ge => ord.is_ge(),
            Op::Lt => ord.is_lt(),
            Op::Le => ord.is_le(),
            Op::Eq => ord.is_eq(),
            Op::Ne => ord.is_ne(),
        }
    }
}

/// A parsed `ifVersion` expression (see the [module documentation](self)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionGuard {
    /// `20240815.1`: exactly this version.
    Exact(Version),
    /// `>=20240815.1` and the other operators.
    Compare(Op, Version),
    /// `20240815.*`: versions whose leading parts equal these (`*` alone: every version).
    Wildcard(Vec<u64>),
    /// `a,b,…`: every clause holds.
    All(Vec<VersionGuard>),
}

/// Why an `ifVersion` expression does not parse; the message names the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error("ifVersion: the expression is empty (expected a version like 20240815.1, a comparison like >=20240815.1, or a wildcard like 20240815.*)")]
    Empty,
    #[error(
        "ifVersion: the expression is {chars} characters long (at most {MAX_EXPRESSION_CHARS})"
    )]
    TooLong { chars: usize },
    #[error("ifVersion: {expr:?} has {clauses} clauses (at most {MAX_CLAUSES})")]
    TooManyClauses { expr: String, clauses: usize },
    #[error("ifVersion: empty clause in {expr:?}")]
    EmptyClause { expr: String },
    #[error(
        "ifVersion: unknown operator {op:?} in {expr:?} (expected one of >=, >, <=, <, =, ==, !=)"
    )]
    UnknownOperator { op: String, expr: String },
    #[error("ifVersion: operator {op:?} in {expr:?} has no version after it")]
    MissingVersion { op: String, expr: String },
    #[error("ifVersion: {part:?} in {expr:?} is not a version (expected numbers separated by dots, like 20240815.1)")]
    NotAVersion { part: String, expr: String },
    #[error("ifVersion: {part:?} in {expr:?} has a part longer than {MAX_PART_DIGITS} digits")]
    PartTooLong { part: String, expr: String },
    #[error("ifVersion: {part:?} in {expr:?} has {parts} parts (at most {MAX_PARTS})")]
    TooManyParts {
        part: String,
        parts: usize,
        expr: String,
    },
    #[error("ifVersion: {clause:?} in {expr:?} puts an operator before a wildcard (write 20240815.* or >=20240815.0, not both)")]
    OperatorWithWildcard { clause: String, expr: String },
}

impl VersionGuard {
    /// Parses an `ifVersion` expression.
    pub fn parse(expr: &str) -> Result<VersionGuard, GuardError> {
        let chars = expr.chars().count();
        if chars > MAX_EXPRESSION_CHARS {
            return Err(GuardError::TooLong { chars });
        }
        if expr.trim().is_empty() {
            return Err(GuardError::Empty);
        }
        let clauses = expr.split(',').count();
        if clauses > MAX_CLAUSES {
            return Err(GuardError::TooManyClauses {
                expr: expr.to_string(),
                clauses,
            });
        }
        let mut parsed = expr
            .split(',')
            .map(|clause| parse_clause(clause.trim(), expr))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(if parsed.len() == 1 {
            parsed.remove(0)
        } else {
            VersionGuard::All(parsed)
        })
    }

    /// Whether a run's version satisfies the guard. A run without a locked version
    /// (`None`) or with a version that does not parse matches nothing.
    pub fn matches(&self, version: Option<&str>) -> bool {
        match version.and_then(Version::parse) {
            Some(v) => self.matches_version(&v),
            None => false,
        }
    }

    /// Whether a parsed version satisfies the guard.
    pub fn matches_version(&self, version: &Version) -> bool {
        match self {
            VersionGuard::Exact(want) => version == want,
            VersionGuard::Compare(op, want) => op.holds(version.cmp(want)),
            VersionGuard::Wildcard(prefix) => prefix
                .iter()
                .enumerate()
                .all(|(i, part)| version.part(i) == *part),
            VersionGuard::All(clauses) => clauses.iter().all(|c| c.matches_version(version)),
        }
    }
}

fn version_error(fault: VersionFault, part: &str, expr: &str) -> GuardError {
    let (part, expr) = (part.to_string(), expr.to_string());
    match fault {
        VersionFault::NotAVersion => GuardError::NotAVersion { part, expr },
        VersionFault::PartTooLong => GuardError::PartTooLong { part, expr },
        VersionFault::TooManyParts(parts) => GuardError::TooManyParts { part, parts, expr },
    }
}

/// Parses one trimmed clause of `expr`.
fn parse_clause(clause: &str, expr: &str) -> Result<VersionGuard, GuardError> {
    if clause.is_empty() {
        return Err(GuardError::EmptyClause {
            expr: expr.to_string(),
        });
    }
    let op_len = clause
        .find(|c: char| !matches!(c, '<' | '>' | '=' | '!'))
        .unwrap_or(clause.len());
    let (token, rest) = clause.split_at(op_len);
    let text = rest.trim_start();
    let op = if token.is_empty() {
        None
    } else {
        let op = Op::from_token(token).ok_or_else(|| GuardError::UnknownOperator {
            op: token.to_string(),
            expr: expr.to_string(),
        })?;
        if text.is_empty() {
            return Err(GuardError::MissingVersion {
                op: token.to_string(),
                expr: expr.to_string(),
            });
        }
        Some(op)
    };

    let wildcard_prefix = if text == "*" {
        Some(None)
    } else {
        text.strip_suffix(".*").map(Some)
    };
    if let Some(prefix) = wildcard_prefix {
        if op.is_some() {
            return Err(GuardError::OperatorWithWildcard {
                clause: clause.to_string(),
                expr: expr.to_string(),
            });
        }
        let Some(prefix) = prefix else {
            return Ok(VersionGuard::Wildcard(Vec::new()));
        };
        let parts = parse_parts(prefix).map_err(|fault| version_error(fault, text, expr))?;
        return Ok(VersionGuard::Wildcard(parts));
    }

    let parts = parse_parts(text).map_err(|fault| version_error(fault, text, expr))?;
    let version = Version { parts };
    Ok(match op {
        None => VersionGuard::Exact(version),
        Some(op) => VersionGuard::Compare(op, version),
    })
}

impl fmt::Display for VersionGuard {
    /// Writes the guard back as an expression that parses to an equal guard.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionGuard::Exact(v) => write!(f, "{v}"),
            VersionGuard::Compare(op, v) => write!(f, "{}{v}", op.as_str()),
            VersionGuard::Wildcard(prefix) if prefix.is_empty() => f.write_str("*"),
            VersionGuard::Wildcard(prefix) => {
                write_parts(f, prefix)?;
                f.write_str(".*")
            }
            VersionGuard::All(clauses) => {
                for (i, clause) in clauses.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{clause}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::str::FromStr for VersionGuard {
    type Err = GuardError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VersionGuard::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn guard(expr: &str) -> VersionGuard {
        VersionGuard::parse(expr).unwrap_or_else(|e| panic!("{expr:?}: {e}"))
    }

    fn err(expr: &str) -> String {
        match VersionGuard::parse(expr) {
            Ok(g) => panic!("{expr:?} parsed as {g:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn hits(expr: &str, versions: &[&str]) -> Vec<bool> {
        let g = guard(expr);
        versions.iter().map(|v| g.matches(Some(v))).collect()
    }

    #[test]
    fn compare_is_numeric_with_zero_padding() {
        use Ordering::*;
        assert_eq!(compare_versions("20240815.10", "20240815.9"), Some(Greater));
        assert_eq!(compare_versions("20240815", "20240815.0"), Some(Equal));
        assert_eq!(compare_versions("20240815.0.0", "20240815"), Some(Equal));
        assert_eq!(compare_versions("20240815.0.1", "20240815"), Some(Greater));
        assert_eq!(compare_versions("20240815.01", "20240815.1"), Some(Equal));
        assert_eq!(compare_versions("20240814.99", "20240815.0"), Some(Less));
        assert_eq!(compare_versions("abc", "1"), None);
        assert_eq!(compare_versions("1", "1."), None);
        assert_eq!(compare_versions("+1", "1"), None);
        assert_eq!(compare_versions(" 1", "1"), None);
        assert_eq!(
            compare_versions("1.2.3.4.5.6.7.8", "1.2.3.4.5.6.7.8"),
            Some(Equal)
        );
        assert_eq!(compare_versions("1.2.3.4.5.6.7.8.9", "1"), None);
        let max = "999999999999999999";
        assert_eq!(compare_versions(max, "1"), Some(Greater));
        assert_eq!(compare_versions(&format!("{max}9"), "1"), None);
    }

    #[test]
    fn exact_version() {
        let vs = [
            "20240815.1",
            "20240815.01",
            "20240815.1.0",
            "20240815.2",
            "20240815",
        ];
        assert_eq!(hits("20240815.1", &vs), [true, true, true, false, false]);
        assert_eq!(hits("20240815", &vs), [false, false, false, false, true]);
        assert_eq!(hits("  20240815.1 ", &vs), hits("20240815.1", &vs));
        let v = Version::parse("20240815.1.0").unwrap();
        assert_eq!(guard("20240815.1"), VersionGuard::Exact(v.clone()));
        assert_eq!(guard("=20240815.1"), VersionGuard::Compare(Op::Eq, v));
    }

    #[test]
    fn comparisons() {
        let vs = [
            "20240815.0",
            "20240815.1",
            "20240815.9",
            "20240815.10",
            "20240901.0",
        ];
        assert_eq!(hits(">=20240815.1", &vs), [false, true, true, true, true]);
        assert_eq!(hits(">20240815.9", &vs), [false, false, false, true, true]);
        assert_eq!(hits("<=20240815.9", &vs), [true, true, true, false, false]);
        assert_eq!(hits("<20240901.0", &vs), [true, true, true, true, false]);
        assert_eq!(hits("<20240901", &vs), [true, true, true, true, false]);
        assert_eq!(hits("=20240815.1", &vs), [false, true, false, false, false]);
        assert_eq!(
            hits("==20240815.1", &vs),
            [false, true, false, false, false]
        );
        assert_eq!(hits("!=20240815.1", &vs), [true, false, true, true, true]);
        assert_eq!(hits(">= 20240815.1", &vs), hits(">=20240815.1", &vs));
        assert_eq!(guard("==1.2"), guard("=1.2"));
    }

    #[test]
    fn wildcards() {
        let vs = [
            "20240815",
            "20240815.0",
            "20240815.7.3",
            "20240816.1",
            "2024081.5",
        ];
        assert_eq!(hits("20240815.*", &vs), [true, true, true, false, false]);
        assert_eq!(
            hits("20240815.7.*", &vs),
            [false, false, true, false, false]
        );
        assert_eq!(hits("20240815.0.*", &vs), [true, true, false, false, false]);
        assert_eq!(hits("*", &vs), [true; 5]);
        assert_eq!(
            guard(" 20240815.* "),
            VersionGuard::Wildcard(vec![20240815])
        );
    }

    #[test]
    fn conjunctions() {
        let vs = [
            "20240815.0",
            "20240815.1",
            "20240831.5",
            "20240901.0",
            "20240902.0",
        ];
        let range = hits(">=20240815.1,<20240901.0", &vs);
        assert_eq!(range, [false, true, true, false, false]);
        assert_eq!(hits(" >=20240815.1 , < 20240901.0 ", &vs), range);
        assert_eq!(
            hits("20240815.*,!=20240815.0", &vs),
            [false, true, false, false, false]
        );
        assert_eq!(hits(">20240902.0,<20240815.0", &vs), [false; 5]);
        let sixteen = vec![">=1"; MAX_CLAUSES].join(",");
        assert!(matches!(guard(&sixteen), VersionGuard::All(c) if c.len() == MAX_CLAUSES));
    }

    #[test]
    fn unlocked_or_bad_versions_match_nothing() {
        for expr in ["*", "!=1", ">=0", "<999", "1.*", "0"] {
            let g = guard(expr);
            assert!(!g.matches(None), "{expr}");
            for bad in ["", "abc", "1..2", "v1", "1.2.3.4.5.6.7.8.9", " 1", "-1"] {
                assert!(!g.matches(Some(bad)), "{expr} vs {bad:?}");
            }
        }
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            err(">=abc"),
            r#"ifVersion: "abc" in ">=abc" is not a version (expected numbers separated by dots, like 20240815.1)"#
        );
        assert_eq!(err(">=1,,<2"), r#"ifVersion: empty clause in ">=1,,<2""#);
        assert_eq!(err(">=1,"), r#"ifVersion: empty clause in ">=1,""#);
        assert_eq!(
            err("=>20240815.1"),
            r#"ifVersion: unknown operator "=>" in "=>20240815.1" (expected one of >=, >, <=, <, =, ==, !=)"#
        );
        assert!(err("<>1").contains(r#"unknown operator "<>""#));
        assert!(err("!1").contains(r#"unknown operator "!""#));
        assert!(err("1,>=2,===3").contains(r#"unknown operator "===""#));
        assert_eq!(
            err(">= "),
            r#"ifVersion: operator ">=" in ">= " has no version after it"#
        );
        assert!(err("").starts_with("ifVersion: the expression is empty"));
        assert!(err("  ").starts_with("ifVersion: the expression is empty"));
        assert!(err("~1.2").contains(r#""~1.2" in "~1.2" is not a version"#));
        assert!(err("1.").contains(r#""1." in "1." is not a version"#));
        assert!(err("1..2").contains("is not a version"));
        assert!(err(".*").contains(r#"".*" in ".*" is not a version"#));
        assert!(err("1.*.2").contains("is not a version"));
        assert!(err("1.2*").contains("is not a version"));
        assert!(err("1 2").contains(r#""1 2" in "1 2" is not a version"#));
        assert!(err("+1").contains("is not a version"));
        assert!(err("１").contains("is not a version"));
        assert_eq!(
            err("1.1234567890123456789"),
            r#"ifVersion: "1.1234567890123456789" in "1.1234567890123456789" has a part longer than 18 digits"#
        );
        assert_eq!(
            err("<1.2.3.4.5.6.7.8.9"),
            r#"ifVersion: "1.2.3.4.5.6.7.8.9" in "<1.2.3.4.5.6.7.8.9" has 9 parts (at most 8)"#
        );
        assert!(err("1.2.3.4.5.6.7.8.9.*").contains("has 9 parts"));
        assert_eq!(
            err(">=20240815.*"),
            r#"ifVersion: ">=20240815.*" in ">=20240815.*" puts an operator before a wildcard (write 20240815.* or >=20240815.0, not both)"#
        );
        assert!(err("!=*").contains("puts an operator before a wildcard"));
        let seventeen = vec!["1"; MAX_CLAUSES + 1].join(",");
        assert_eq!(
            err(&seventeen),
            format!("ifVersion: {seventeen:?} has 17 clauses (at most 16)")
        );
        assert_eq!(
            err(&"1".repeat(257)),
            "ifVersion: the expression is 257 characters long (at most 256)"
        );
        assert!(VersionGuard::parse(&format!("{:>256}", "1")).is_ok());
        assert!(err("a\"\tb").contains(r#""a\"\tb" in "a\"\tb" is not a version"#));
    }

    #[test]
    fn display_round_trips() {
        for (expr, shown) in [
            ("20240815.01", "20240815.1"),
            (" == 1.2 ", "=1.2"),
            (">=20240815.1, <20240901.0", ">=20240815.1,<20240901.0"),
            ("20240815.*", "20240815.*"),
            ("*", "*"),
            ("!=3,<=4,>1", "!=3,<=4,>1"),
        ] {
            let g = guard(expr);
            assert_eq!(g.to_string(), shown);
            assert_eq!(guard(shown), g);
            assert_eq!(shown.parse::<VersionGuard>(), Ok(g));
        }
    }

    // ---- property tests ----

    /// A version's parts: small numbers (to get ties) or anything up to 18 digits.
    fn parts() -> impl Strategy<Value = Vec<u64>> {
        let part = prop_oneof![0u64..4, 0u64..=999_999_999_999_999_999];
        proptest::collection::vec(part, 1..=MAX_PARTS)
    }

    /// A version string for `parts`, each part zero-padded to a random width (≤ 18 digits).
    fn spelled() -> impl Strategy<Value = (Vec<u64>, String)> {
        parts().prop_flat_map(|parts| {
            let n = parts.len();
            (
                Just(parts),
                proptest::collection::vec(0usize..=MAX_PART_DIGITS, n),
            )
                .prop_map(|(parts, widths)| {
                    let text = parts
                        .iter()
                        .zip(widths)
                        .map(|(p, w)| format!("{p:0w$}"))
                        .collect::<Vec<_>>()
                        .join(".");
                    (parts, text)
                })
        })
    }

    /// The reference order: parts padded with zeros, compared as number lists.
    fn reference(a: &[u64], b: &[u64]) -> Ordering {
        let pad = |p: &[u64]| {
            let mut v = p.to_vec();
            v.resize(MAX_PARTS, 0);
            v
        };
        pad(a).cmp(&pad(b))
    }

    fn clause() -> impl Strategy<Value = VersionGuard> {
        let op = prop_oneof![
            Just(Op::Gt),
            Just(Op::Ge),
            Just(Op::Lt),
            Just(Op::Le),
            Just(Op::Eq),
            Just(Op::Ne)
        ];
        prop_oneof![
            parts().prop_map(|parts| VersionGuard::Exact(Version { parts })),
            (op, parts()).prop_map(|(op, parts)| VersionGuard::Compare(op, Version { parts })),
            proptest::collection::vec(0u64..1000, 0..MAX_PARTS).prop_map(VersionGuard::Wildcard),
        ]
    }

    fn guards() -> impl Strategy<Value = VersionGuard> {
        proptest::collection::vec(clause(), 1..=4)
            .prop_map(|mut clauses| {
                if clauses.len() == 1 {
                    clauses.remove(0)
                } else {
                    VersionGuard::All(clauses)
                }
            })
            .prop_filter("fits the length limit", |g| {
                g.to_string().chars().count() <= MAX_EXPRESSION_CHARS
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn ordering_is_numeric_total_and_consistent(
            (a, sa) in spelled(), (b, sb) in spelled(), (c, sc) in spelled()
        ) {
            let ab = compare_versions(&sa, &sb).unwrap();
            let bc = compare_versions(&sb, &sc).unwrap();
            let ac = compare_versions(&sa, &sc).unwrap();
            prop_assert_eq!(ab, reference(&a, &b));
            prop_assert_eq!(bc, reference(&b, &c));
            prop_assert_eq!(ac, reference(&a, &c));
            prop_assert_eq!(compare_versions(&sb, &sa), Some(ab.reverse()));
            prop_assert_eq!(compare_versions(&sa, &sa), Some(Ordering::Equal));
            if ab.is_le() && bc.is_le() {
                prop_assert!(ac.is_le());
            }
            if ab.is_ge() && bc.is_ge() {
                prop_assert!(ac.is_ge());
            }
            // The padded spelling compares equal to the plain one.
            let plain = a.iter().map(u64::to_string).collect::<Vec<_>>().join(".");
            prop_assert_eq!(compare_versions(&plain, &sa), Some(Ordering::Equal));
        }

        #[test]
        fn guards_follow_the_order((v, sv) in spelled(), (w, sw) in spelled()) {
            let ord = reference(&w, &v);
            let m = |expr: String| guard(&expr).matches(Some(&sw));
            let (ge, lt) = (m(format!(">={sv}")), m(format!("<{sv}")));
            let (le, gt) = (m(format!("<={sv}")), m(format!(">{sv}")));
            let (eq, ne) = (m(format!("={sv}")), m(format!("!={sv}")));
            prop_assert!(ge != lt, "<v and >=v partition");
            prop_assert!(le != gt, "<=v and >v partition");
            prop_assert!(eq != ne, "=v and !=v partition");
            prop_assert_eq!(ge, ord.is_ge());
            prop_assert_eq!(m(sv.clone()), ord.is_eq());
            prop_assert_eq!(m(format!("=={sv}")), ord.is_eq());
            prop_assert_eq!(m(format!(">{sv}")), ord.is_gt());
            prop_assert_eq!(m(format!("<={sv}")), ord.is_le());
            let empty_range = format!(">={sv},<{sv}");
            if empty_range.len() <= MAX_EXPRESSION_CHARS {
                prop_assert!(!m(empty_range), "an empty range matches nothing");
            }
            prop_assert!(!guard(&sv).matches(None));
        }

        #[test]
        fn wildcard_matches_leading_parts(
            (v, _) in spelled(), (w, sw) in spelled(), keep in 0usize..=MAX_PARTS
        ) {
            // A prefix of v, and one taken from w so that matches are common.
            for prefix in [&v[..keep.min(v.len())], &w[..keep.min(w.len())]] {
                let expr = if prefix.is_empty() {
                    "*".to_string()
                } else {
                    let p = prefix.iter().map(u64::to_string).collect::<Vec<_>>();
                    format!("{}.*", p.join("."))
                };
                let mut padded = w.clone();
                padded.resize(MAX_PARTS, 0);
                let expected = padded[..prefix.len()] == *prefix;
                prop_assert_eq!(guard(&expr).matches(Some(&sw)), expected, "{} vs {}", expr, sw);
            }
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(
            text in prop_oneof![
                proptest::collection::vec(any::<char>(), 0..=300)
                    .prop_map(|cs| cs.into_iter().collect::<String>()),
                "[0-9.,*<>=! \t]{0,300}",
                "[<>=!]{0,3} ?[0-9]{1,20}(\\.[0-9*]{0,20}){0,9}(,[<>=!]{0,3}[0-9.*]{0,12}){0,17}",
            ],
            probe in spelled(),
        ) {
            match VersionGuard::parse(&text) {
                Ok(g) => {
                    let _ = g.matches(Some(&probe.1));
                    prop_assert!(!g.matches(None));
                    prop_assert_eq!(VersionGuard::parse(&g.to_string()), Ok(g));
                }
                Err(e) => prop_assert!(e.to_string().starts_with("ifVersion: ")),
            }
            let _ = compare_versions(&text, &probe.1);
        }

        #[test]
        fn display_then_parse_is_stable(g in guards(), (_, sw) in spelled()) {
            let shown = g.to_string();
            let back = VersionGuard::parse(&shown).unwrap();
            prop_assert_eq!(&back, &g);
            prop_assert_eq!(back.to_string(), shown);
            prop_assert_eq!(back.matches(Some(&sw)), g.matches(Some(&sw)));
        }
    }
}
