//! A recomputed `--start/--end` range with fewer rows than before leaves
//! the online store equal to the table's latest row per entity: online rows
//! the range no longer holds go back to the entity's latest row left, or
//! go, although the online store's rule keeps the later of two rows.

use crate::support::{day, offline_rows, online_rows, run, run_with};
use quiver_job::RunOptions;
use quiver_test::TestRepo;
use quiver_test::repo::{ENERGY_HEADER, energy_line};

fn line(id: &str, day: &str, sum: f64) -> String {
    energy_line(id, day, Some(sum), Some(48), Some(1.0), Some(0.5)) + "\n"
}

fn replace(start: &str, end: &str) -> RunOptions {
    RunOptions {
        replace_range: Some((start.to_string(), end.to_string())),
        ..RunOptions::default()
    }
}

#[tokio::test]
async fn a_replaced_range_with_fewer_rows_rolls_the_online_store_back() {
    // MAC000002 on three days, MAC000003 only in the range, MAC000004
    // only before it, MAC000005 before, in and after it.
    let repo = TestRepo::energy(&format!(
        "{ENERGY_HEADER}\n{}{}{}{}{}{}{}{}",
        line("MAC000002", "2013-01-01", 1.0),
        line("MAC000002", "2013-01-02", 2.0),
        line("MAC000002", "2013-01-03", 3.0),
        line("MAC000003", "2013-01-02", 30.0),
        line("MAC000004", "2013-01-01", 40.0),
        line("MAC000005", "2013-01-01", 50.0),
        line("MAC000005", "2013-01-02", 51.0),
        line("MAC000005", "2013-01-05", 55.0),
    ));
    run(&repo).await.unwrap();
    let ids = ["MAC000002", "MAC000003", "MAC000004", "MAC000005"];
    let before = online_rows(&repo, &ids).await;
    assert_eq!(before[0].as_ref().unwrap().0, day("2013-01-03"));
    assert_eq!(before[1].as_ref().unwrap().0, day("2013-01-02"));

    // The corrected source: MAC000002 lost 2013-01-03, MAC000003 is gone,
    // MAC000005 lost 2013-01-02.
    repo.write_source(&format!(
        "{ENERGY_HEADER}\n{}{}{}{}{}",
        line("MAC000002", "2013-01-01", 1.0),
        line("MAC000002", "2013-01-02", 2.5),
        line("MAC000004", "2013-01-01", 40.0),
        line("MAC000005", "2013-01-01", 50.0),
        line("MAC000005", "2013-01-05", 55.0),
    ));
    run_with(&repo, replace("2013-01-02", "2013-01-04"))
        .await
        .unwrap();

    // The online store is the table's latest row per entity.
    let table = offline_rows(&repo).await;
    for (id, online) in ids.iter().zip(online_rows(&repo, &ids).await) {
        let latest = table
            .iter()
            .filter(|((key, _), _)| key == id)
            .max_by_key(|((_, day), _)| *day)
            .map(|((_, day), features)| (*day, features.clone()));
        assert_eq!(online, latest, "{id}");
    }
    let after = online_rows(&repo, &ids).await;
    assert_eq!(
        after[0].as_ref().unwrap().0,
        day("2013-01-02"),
        "rolled back"
    );
    assert_eq!(after[0].as_ref().unwrap().1["energy_sum"], Some(2.5));
    assert_eq!(after[1], None, "an entity the table no longer holds");
    assert_eq!(after[2].as_ref().unwrap().0, day("2013-01-01"));
    assert_eq!(after[3].as_ref().unwrap().0, day("2013-01-05"));
}
