//! Backfill scenarios run against every dialect: a store that can run a
//! backfill and raw SQL, and the cases written once over it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use latchkey::storage::{StorageError, StorageResult};
use latchkey_sqlx::{sqlx, Backfill, BackfillOptions, BackfillProgress, Flow, KeyKind};

/// Progress callbacks as the scenarios pass them.
pub type Callback = Box<dyn FnMut(&BackfillProgress) -> Flow + Send>;

/// What the scenarios need of a store.
#[async_trait]
pub trait Backfills: Send + Sync + 'static {
    async fn run(
        &self,
        job: &Backfill,
        opts: &BackfillOptions,
        progress: Callback,
    ) -> StorageResult<BackfillProgress>;
    async fn exec(&self, sql: &str);
    async fn count(&self, sql: &str) -> i64;
}

macro_rules! backfills_for {
    ($store:ty) => {
        #[async_trait]
        impl Backfills for $store {
            async fn run(
                &self,
                job: &Backfill,
                opts: &BackfillOptions,
                progress: Callback,
            ) -> StorageResult<BackfillProgress> {
                self.backfill(job, opts, progress).await
            }
            async fn exec(&self, sql: &str) {
                sqlx::raw_sql(sql)
                    .execute(self.pool())
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
            async fn count(&self, sql: &str) -> i64 {
                sqlx::query_scalar(sql)
                    .fetch_one(self.pool())
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
            }
        }
    };
}

#[cfg(feature = "mysql")]
backfills_for!(latchkey_sqlx::MySqlStore);
#[cfg(feature = "postgres")]
backfills_for!(latchkey_sqlx::PgStore);
#[cfg(feature = "sqlite")]
backfills_for!(latchkey_sqlx::SqliteStore);

/// The scenarios' table: `bf_items (id, hits, label)`, `rows` rows with
/// ids 3, 6, 9, … (gaps: ranges are by key, not by position), `hits` 0
/// and `label` null. `ddl` creates it in the store's dialect;
/// `fill` inserts the rows (`{rows}` is replaced).
pub struct Items<'a> {
    pub ddl: &'a str,
    pub fill: &'a str,
}

impl Items<'_> {
    pub async fn create<S: Backfills>(&self, store: &S, rows: i64) {
        store.exec(self.ddl).await;
        store
            .exec(&self.fill.replace("{rows}", &rows.to_string()))
            .await;
        assert_eq!(store.count("SELECT count(*) FROM bf_items").await, rows);
    }
}

/// A backfill that is *not* idempotent (every run of a row adds one), so
/// a row done twice shows.
pub fn counting(name: &str) -> Backfill {
    Backfill::new(name, "bf_items", "id", KeyKind::Int).set("hits = hits + 1")
}

/// Small batches, no pauses: many batches, quickly.
pub fn quick(batch: u32) -> BackfillOptions {
    BackfillOptions {
        batch_size: batch,
        min_batch_size: batch,
        pause: Duration::ZERO,
        max_batch_time: Duration::from_secs(10),
        ..BackfillOptions::default()
    }
}

/// Every row was updated exactly once.
pub async fn assert_once<S: Backfills>(store: &S, rows: i64) {
    assert_eq!(
        store
            .count("SELECT count(*) FROM bf_items WHERE hits = 1")
            .await,
        rows,
        "every row once"
    );
    assert_eq!(
        store
            .count("SELECT count(*) FROM bf_items WHERE hits <> 1")
            .await,
        0,
        "no row twice or never"
    );
}

/// Runs `job` in a task and aborts the task as soon as the progress
/// callback has seen `after` batches (with no pause, the abort usually
/// lands inside the next batch). Returns the batches the aborted run had
/// committed by then.
pub async fn abort_after<S: Backfills>(
    store: &Arc<S>,
    job: &Backfill,
    opts: &BackfillOptions,
    after: u64,
) -> u64 {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (s, j, o) = (store.clone(), job.clone(), opts.clone());
    let task = tokio::spawn(async move {
        s.run(
            &j,
            &o,
            Box::new(move |p| {
                let _ = tx.send(p.batches);
                Flow::Continue
            }),
        )
        .await
    });
    let mut last = 0;
    for _ in 0..after {
        last = rx.recv().await.expect("the run ended before the abort");
    }
    task.abort();
    assert!(
        task.await.expect_err("aborted").is_cancelled(),
        "the run was cut off"
    );
    last
}

/// Drives `fut` by hand for `polls` polls, 1 ms apart (each lets one
/// statement's round trip complete), then drops it wherever it stands:
/// between two statements of a batch, inside its transaction, or after
/// its commit. Returns its output if it finished first.
pub async fn cut_after<F: std::future::Future>(fut: F, polls: u32) -> Option<F::Output> {
    use std::task::Poll;
    let mut fut = std::pin::pin!(fut);
    for _ in 0..polls {
        let out = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
        if let Poll::Ready(out) = out {
            return Some(out);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    None
}

/// Kills runs part-way, then lets one finish: every row is updated
/// exactly once, by a `SET` that would show a second update, and the
/// counts add up over the runs. Runs are cut after 1, 2, … 40 polls, so
/// over the runs the cut lands at every step of a batch (a batch is about
/// seven round trips); then three runs are aborted as tasks.
///
/// SQLite answers from a thread in this process, often before the next
/// poll, so one poll may run many statements: there a cut can come too
/// late, and `min_cuts` says how many of the 40 must land.
pub async fn resumes_after_kills<S: Backfills>(store: Arc<S>, items: &Items<'_>, min_cuts: u32) {
    let rows = 4_000;
    items.create(&*store, rows).await;
    let job = counting("kills");
    let opts = quick(20);
    let mut cuts = 0;
    for polls in 1..=40 {
        let run = store.run(&job, &opts, Box::new(|_| Flow::Continue));
        match cut_after(run, polls).await {
            None => cuts += 1,
            // A run that starts while the one cut before it is still being
            // torn down on the server must wait for it, not fail.
            Some(finished) => {
                finished.expect("the run after a cut one");
                break;
            }
        }
    }
    println!("{cuts} runs cut part-way");
    assert!(cuts >= min_cuts, "only {cuts} of 40 runs were cut");
    if cuts == 40 {
        let mut committed = 0;
        for after in [2, 5, 9] {
            let at = abort_after(&store, &job, &opts, after).await;
            assert!(at >= committed + after, "each run went on from the last");
            committed = at;
        }
    }
    let done = store
        .run(&job, &opts, Box::new(|_| Flow::Continue))
        .await
        .expect("resume");
    assert!(done.done);
    assert_eq!(done.rows_scanned as i64, rows, "{done:?}");
    assert_eq!(done.rows_updated as i64, rows, "{done:?}");
    assert_eq!(done.cursor, Some(latchkey_sqlx::Key::Int(rows * 3)));
    assert!(
        done.run_rows < rows as u64,
        "the last run resumed: {done:?}"
    );
    assert_once(&*store, rows).await;
    // A finished backfill is remembered: calling again changes nothing.
    let again = store
        .run(&job, &opts, Box::new(|_| panic!("no batch runs once done")))
        .await
        .expect("again");
    assert!(again.done && again.run_rows == 0);
    assert_once(&*store, rows).await;
}

/// `Flow::Stop` ends a run after the batch it reports; the next run goes
/// on from there. Progress figures are consistent along the way, and a
/// `pending` condition skips rows already filled in (the new release's
/// own writes).
pub async fn stops_resumes_and_skips_filled_rows<S: Backfills>(store: Arc<S>, items: &Items<'_>) {
    let rows = 1_000;
    items.create(&*store, rows).await;
    // The new release already wrote these.
    store
        .exec("UPDATE bf_items SET label = 'new' WHERE id % 2 = 0")
        .await;
    let job = Backfill::new("labels", "bf_items", "id", KeyKind::Int)
        .set("label = 'old', hits = hits + 1")
        .pending("label IS NULL");
    let mut n = 0;
    let first = store
        .run(
            &job,
            &quick(100),
            Box::new(move |_| {
                n += 1;
                if n == 3 {
                    Flow::Stop
                } else {
                    Flow::Continue
                }
            }),
        )
        .await
        .expect("first run");
    assert!(!first.done);
    assert_eq!(first.batches, 3);
    assert_eq!(first.rows_scanned, 300);
    assert_eq!(first.rows_updated, 150, "only the rows still pending");
    assert!(first.rows_per_sec > 0.0);
    assert_eq!(first.estimated_total.map(|_| ()), Some(()), "{first:?}");
    let rest = store
        .run(&job, &quick(100), Box::new(|_| Flow::Continue))
        .await
        .expect("rest");
    assert!(rest.done);
    assert_eq!(rest.rows_scanned as i64, rows);
    assert_eq!(rest.rows_updated as i64, rows / 2);
    assert_eq!(rest.run_rows as i64, rows - 300);
    assert_eq!(
        store
            .count("SELECT count(*) FROM bf_items WHERE label = 'old' AND hits = 1")
            .await,
        rows / 2
    );
    assert_eq!(
        store
            .count("SELECT count(*) FROM bf_items WHERE label = 'new' AND hits = 0")
            .await,
        rows / 2,
        "rows the new release wrote are left alone"
    );
}

/// A text key and a binary key walk the same way, and an empty table is
/// done at once.
pub async fn text_and_binary_keys<S: Backfills>(store: Arc<S>, ddl: [&str; 2], fill: [&str; 2]) {
    for (i, (kind, key)) in [(KeyKind::Text, "t"), (KeyKind::Bytes, "b")]
        .into_iter()
        .enumerate()
    {
        store.exec(ddl[i]).await;
        let table = format!("bf_{key}");
        let job = Backfill::new(format!("keys_{key}"), &table, "k", kind).set("v = v + 1");
        let empty = store
            .run(&job, &quick(7), Box::new(|_| Flow::Continue))
            .await
            .expect("empty");
        assert!(empty.done && empty.batches == 0);
        // Same table, filled: a new backfill walks it in key order.
        store.exec(fill[i]).await;
        let n = store.count(&format!("SELECT count(*) FROM {table}")).await;
        assert!(n > 20);
        let job = Backfill {
            name: format!("keys_{key}_2"),
            ..job
        };
        let mut cursors = Vec::new();
        let done = store
            .run(
                &job,
                &quick(7),
                Box::new(move |p| {
                    cursors.push(p.cursor.clone());
                    Flow::Continue
                }),
            )
            .await
            .expect("run");
        assert!(done.done);
        assert_eq!(done.rows_scanned as i64, n);
        assert_eq!(
            store
                .count(&format!("SELECT count(*) FROM {table} WHERE v = 1"))
                .await,
            n
        );
    }
}

/// A job naming something that is not an identifier is refused before
/// anything is written.
pub async fn malformed_job_is_refused<S: Backfills>(store: Arc<S>) {
    let job =
        Backfill::new("bad", "bf_items; DROP TABLE lk_clients", "id", KeyKind::Int).set("hits = 1");
    let err = store
        .run(&job, &quick(10), Box::new(|_| Flow::Continue))
        .await
        .expect_err("refused");
    assert!(matches!(err, StorageError::Backend(_)), "{err:?}");
    assert_eq!(store.count("SELECT count(*) FROM lk_clients").await, 0);
}

/// Runs the counting backfill over `rows` items while another session
/// holds one of them (the caller took the lock; it is let go after about
/// `held`): the batch that meets it times out, rolls back and retries
/// until the holder is gone, and every row, the held one too, is updated
/// exactly once.
pub async fn runs_past_a_held_row<S: Backfills>(
    store: &S,
    rows: i64,
    opts: &BackfillOptions,
    held: Duration,
) {
    let t = std::time::Instant::now();
    let done = store
        .run(&counting("held"), opts, Box::new(|_| Flow::Continue))
        .await
        .expect("run");
    let took = t.elapsed();
    println!("done in {took:.2?}: {done:?}");
    assert!(done.done);
    assert!(done.lock_timeouts >= 1, "{done:?}");
    assert!(took >= held.mul_f64(0.9), "waited for the holder: {took:?}");
    assert_once(store, rows).await;
}

/// First runs of eight jobs at once on a database without the progress
/// table: they race to create it, and PostgreSQL's `CREATE TABLE IF NOT
/// EXISTS` fails the losers (CI saw `duplicate_table` when a run started
/// while a killed one's was still finishing). Every run must wait its
/// turn and finish, each updating every row once.
pub async fn first_runs_race_to_create_the_progress_table<S: Backfills>(
    store: Arc<S>,
    items: &Items<'_>,
) {
    let rows = 200;
    items.create(&*store, rows).await;
    let runs: Vec<_> = (0..8)
        .map(|i| {
            let s = store.clone();
            tokio::spawn(async move {
                s.run(
                    &counting(&format!("race{i}")),
                    &quick(50),
                    Box::new(|_| Flow::Continue),
                )
                .await
            })
        })
        .collect();
    for r in runs {
        let p = r
            .await
            .expect("no panic")
            .expect("every racing run finishes");
        assert!(p.done);
    }
    assert_eq!(
        store
            .count("SELECT count(*) FROM bf_items WHERE hits = 8")
            .await,
        rows,
        "each job updated every row once"
    );
}

/// The scenarios above as tests of one dialect: `$fresh` makes a store
/// (`common::pg::fresh` …), `$cuts` is the `min_cuts` of
/// [`resumes_after_kills`], `$ddl` and `$fill` feed
/// [`text_and_binary_keys`].
// Only the backfill test binaries use it.
#[allow(unused_macros)]
macro_rules! backfill_scenarios {
    ($fresh:path, $items:expr, $cuts:expr, $ddl:expr, $fill:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn resumes_after_kills() {
            let g = $fresh().await;
            let s = std::sync::Arc::new(g.inner().clone());
            common::backfill::resumes_after_kills(s, &$items, $cuts).await;
        }

        #[tokio::test]
        async fn stops_resumes_and_skips_filled_rows() {
            let g = $fresh().await;
            let s = std::sync::Arc::new(g.inner().clone());
            common::backfill::stops_resumes_and_skips_filled_rows(s, &$items).await;
        }

        #[tokio::test]
        async fn text_and_binary_keys() {
            let g = $fresh().await;
            let s = std::sync::Arc::new(g.inner().clone());
            let (ddl, fill): ([&str; 2], [String; 2]) = ($ddl, $fill);
            common::backfill::text_and_binary_keys(s, ddl, [&fill[0], &fill[1]]).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn first_runs_race_to_create_the_progress_table() {
            let g = $fresh().await;
            let s = std::sync::Arc::new(g.inner().clone());
            common::backfill::first_runs_race_to_create_the_progress_table(s, &$items).await;
        }

        #[tokio::test]
        async fn malformed_job_is_refused() {
            let g = $fresh().await;
            let s = std::sync::Arc::new(g.inner().clone());
            common::backfill::malformed_job_is_refused(s).await;
        }
    };
}
#[allow(unused_imports)]
pub(crate) use backfill_scenarios;
