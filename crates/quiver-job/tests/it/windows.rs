//! The demo view's trailing windows against values computed by hand: day
//! gaps, window boundaries, a household's first days, nulls, and one-value
//! windows for the sample standard deviation.

use crate::support::{Features, day, offline_rows, online_rows, run};
use quiver_test::TestRepo;
use quiver_test::repo::ENERGY_HEADER;

/// Household A: 2012 is a leap year, so 2012-12-30 is exactly 364 days after
/// 2012-01-01 (inside its 1-year window) and 2012-03-31 is 89 days after
/// 2012-01-02 (inside its 3-month window). 2012-12-31 has no sum, max or mean.
/// Household B has one row whose sum and count are missing.
fn source() -> String {
    let rows = [
        // id, day, median, mean, max, count, std, sum, min
        "MAC000002,2012-01-01,0.1,0.1,0.5,48,0.05,1,0.01",
        "MAC000002,2012-01-02,0.2,0.2,0.7,47,0.05,2,0.01",
        "MAC000002,2012-03-31,0.4,0.4,0.3,48,0.05,4,0.01",
        "MAC000002,2012-12-30,0.8,0.8,0.9,10,0.05,8,0.01",
        "MAC000002,2012-12-31,,,,48,,,",
        "MAC000003,2013-05-05,0.1,0.1,0.2,,,,0.01",
    ];
    format!("{ENERGY_HEADER}\n{}\n", rows.join("\n"))
}

/// The 15 window features of one row: (3 months, 6 months, 1 year) for each of
/// sum, count, max, mean and stddev.
type Windows = [[Option<f64>; 3]; 5];

fn windows(features: &Features) -> Windows {
    let mut out = [[None; 3]; 5];
    for (m, measure) in ["sum", "count", "max", "mean", "stddev"].iter().enumerate() {
        for (w, window) in ["3months", "6months", "1yr"].iter().enumerate() {
            out[m][w] = features[&format!("energy_{measure}_{window}")];
        }
    }
    out
}

fn assert_windows(context: &str, actual: &Windows, expected: &Windows) {
    let names = ["sum", "count", "max", "mean", "stddev"];
    for m in 0..5 {
        for w in 0..3 {
            let (a, e) = (actual[m][w], expected[m][w]);
            let ok = match (a, e) {
                (Some(a), Some(e)) => (a - e).abs() < 1e-6,
                (None, None) => true,
                _ => false,
            };
            assert!(
                ok,
                "{context}: energy_{}[{w}] = {a:?}, expected {e:?}",
                names[m]
            );
        }
    }
}

const N: Option<f64> = None;
const fn s(v: f64) -> Option<f64> {
    Some(v)
}
const fn all(v: Option<f64>) -> [Option<f64>; 3] {
    [v, v, v]
}

#[tokio::test]
async fn trailing_windows_match_hand_computed_values() {
    let repo = TestRepo::energy(&source());
    run(&repo).await.unwrap();
    let rows = offline_rows(&repo).await;
    assert_eq!(rows.len(), 6);
    let at = |id: &str, d: &str| windows(&rows[&(id.to_string(), day(d))]);

    // The first day: every window holds one row; one value has no sample stddev.
    assert_windows(
        "A 2012-01-01",
        &at("MAC000002", "2012-01-01"),
        &[all(s(1.0)), all(s(48.0)), all(s(0.5)), all(s(0.1)), all(N)],
    );
    // Two rows: stddev of (1, 2).
    assert_windows(
        "A 2012-01-02",
        &at("MAC000002", "2012-01-02"),
        &[
            all(s(3.0)),
            all(s(95.0)),
            all(s(0.7)),
            all(s(0.15)),
            all(s(std::f64::consts::FRAC_1_SQRT_2)),
        ],
    );
    // 89 days after 2012-01-02: the 3-month window keeps 01-02 but not 01-01.
    assert_windows(
        "A 2012-03-31",
        &at("MAC000002", "2012-03-31"),
        &[
            [s(6.0), s(7.0), s(7.0)],
            [s(95.0), s(143.0), s(143.0)],
            all(s(0.7)),
            [s(0.3), s(0.7 / 3.0), s(0.7 / 3.0)],
            [
                s(std::f64::consts::SQRT_2),
                s(1.527_525_232),
                s(1.527_525_232),
            ],
        ],
    );
    // A nine-month gap: the short windows hold this row alone; the year reaches
    // back exactly to 2012-01-01.
    assert_windows(
        "A 2012-12-30",
        &at("MAC000002", "2012-12-30"),
        &[
            [s(8.0), s(8.0), s(15.0)],
            [s(10.0), s(10.0), s(153.0)],
            all(s(0.9)),
            [s(0.8), s(0.8), s(0.375)],
            [N, N, s(3.095_695_936)],
        ],
    );
    // Nulls are skipped, not zeroes: sums and means ignore the missing values.
    assert_windows(
        "A 2012-12-31",
        &at("MAC000002", "2012-12-31"),
        &[
            [s(8.0), s(8.0), s(14.0)],
            [s(58.0), s(58.0), s(153.0)],
            all(s(0.9)),
            [s(0.8), s(0.8), s(1.4 / 3.0)],
            [N, N, s(3.055_050_463)],
        ],
    );
    // A window of nothing but nulls stays null; B never sees A's rows.
    assert_windows(
        "B 2013-05-05",
        &at("MAC000003", "2013-05-05"),
        &[all(N), all(N), all(s(0.2)), all(s(0.1)), all(N)],
    );
    let raw = &rows[&("MAC000002".to_string(), day("2012-12-31"))];
    assert_eq!(raw["energy_sum"], None);
    assert_eq!(raw["energy_count"], Some(48.0));
}

#[tokio::test]
async fn online_holds_each_households_latest_row() {
    let repo = TestRepo::energy(&source());
    run(&repo).await.unwrap();
    let online = online_rows(&repo, &["MAC000002", "MAC000003", "MAC000004"]).await;
    let offline = offline_rows(&repo).await;
    let (a_day, a) = online[0].clone().expect("A is online");
    assert_eq!(a_day, day("2012-12-31"));
    assert_eq!(a, offline[&("MAC000002".to_string(), a_day)]);
    let (b_day, b) = online[1].clone().expect("B is online");
    assert_eq!(b_day, day("2013-05-05"));
    assert_eq!(b["energy_sum_1yr"], None);
    assert!(online[2].is_none(), "an unknown household is absent");
}
